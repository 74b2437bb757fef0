#include "exporters/metrics_handler.h"

#include <prometheus/text_serializer.h>

namespace connwatch::exporters {

namespace http = boost::beast::http;

Handler metrics_handler(std::shared_ptr<prometheus::Registry> registry) {
  return [registry = std::move(registry)](const Request& request) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      auto response = text_response(request, http::status::method_not_allowed,
                                    "only GET and HEAD are allowed\n");
      response.set(http::field::allow, "GET, HEAD");
      return response;
    }
    const prometheus::TextSerializer serializer;
    auto response =
        text_response(request, http::status::ok, serializer.Serialize(registry->Collect()),
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
