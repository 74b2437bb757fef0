# `cmake --install build/default [--prefix /usr/local]`:
#   bin/agent
#   /etc/connwatch/agent.toml (+ examples)      CONNWATCH_CONFIG_DIR, absolute: the agent's default
#   share/connwatch/dashboards/{grafana,rules,provisioning}, RUNBOOK.md
#   share/connwatch/deploy/kubernetes/connwatch.yaml
#   share/connwatch/deploy/prometheus/{connwatch-probe.yml,blackbox.yml} (/probe examples)
#   lib/systemd/system/connwatch.service
#   share/doc/connwatch/{README.md,DEPLOY.md,REFERENCE.md,BLACKBOX-MIGRATION.md}
include(GNUInstallDirs)
set(CONNWATCH_CONFIG_DIR "/etc/connwatch" CACHE PATH "Where the agent's config is installed")

install(FILES config/agent.toml DESTINATION ${CONNWATCH_CONFIG_DIR})
install(DIRECTORY config/examples/ DESTINATION ${CONNWATCH_CONFIG_DIR}/examples
        FILES_MATCHING PATTERN "*.toml")

set(share ${CMAKE_INSTALL_DATADIR}/connwatch)
install(DIRECTORY dashboards/grafana dashboards/rules dashboards/provisioning
        DESTINATION ${share}/dashboards)
install(FILES dashboards/RUNBOOK.md dashboards/README.md DESTINATION ${share}/dashboards)
install(FILES agent/diagnose/report.schema.json DESTINATION ${share})
install(FILES deploy/kubernetes/connwatch.yaml DESTINATION ${share}/deploy/kubernetes)
install(FILES deploy/prometheus/connwatch-probe.yml deploy/prometheus/blackbox.yml
        DESTINATION ${share}/deploy/prometheus)
install(FILES deploy/systemd/connwatch.service DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
install(FILES README.md docs/DEPLOY.md docs/REFERENCE.md docs/BLACKBOX-MIGRATION.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
