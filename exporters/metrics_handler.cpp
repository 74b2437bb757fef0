#include "exporters/metrics_handler.h"

#include <prometheus/text_serializer.h>

#include <iterator>

namespace connwatch::exporters {

namespace http = boost::beast::http;

Handler metrics_handler(std::shared_ptr<prometheus::Registry> registry) {
  return metrics_handler(
      std::vector<std::shared_ptr<prometheus::Collectable>>{std::move(registry)});
}

Handler metrics_handler(std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  return [collectables = std::move(collectables)](const Request& request) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      auto response = text_response(request, http::status::method_not_allowed,
                                    "only GET and HEAD are allowed\n");
      response.set(http::field::allow, "GET, HEAD");
      return response;
    }
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : collectables) {
      auto collected = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(collected.begin()),
                      std::make_move_iterator(collected.end()));
    }
    const prometheus::TextSerializer serializer;
    auto response = text_response(request, http::status::ok, serializer.Serialize(families),
                                  "text/plain; version=0.0.4; charset=utf-8");
    if (request.method() == http::verb::head) {
      // HEAD announces the length a GET would send, without the body.
      const auto length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    return response;
  };
}

}  // namespace connwatch::exporters
