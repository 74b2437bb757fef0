#!/usr/bin/env bash
# Builds connwatch's two installable artifacts from this checkout (SPEC §7):
#   - a Debian package connwatch_VERSION_ARCH.deb: /usr/bin/connwatch-agent, the config
#     /etc/connwatch/agent.toml as a conffile, the systemd unit /lib/systemd/system/connwatch.service
#     (User=connwatch; the system user is created on install), dashboards, rules and manifests
#     under /usr/share/connwatch/, the docs under /usr/share/doc/connwatch/;
#   - an OCI image connwatch:VERSION built FROM scratch with podman: the same binary, the shared
#     libraries it links (found with ldd), CA certificates, /etc/passwd with the unprivileged user
#     connwatch (uid 65532) it runs as.
# Prints the .deb path and the image name, one per line, on stdout; progress goes to stderr.
#
#   scripts/package.sh [--build-dir DIR] [--out DIR] [--no-image] [--no-deb] [--no-install]
#
# --build-dir: the build whose agent is packaged (default build/default); when DIR/agent/agent is
#   absent only the agent target is built there, with the default preset when DIR is build/default.
# --no-install: do not apt-get missing tools (tests use it); fail instead.
set -euo pipefail

SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR="$SOURCE_DIR/build/default"
OUT_DIR=""
MAKE_DEB=1
MAKE_IMAGE=1
INSTALL=1

while (($#)); do
  case "$1" in
    --build-dir) BUILD_DIR=$(realpath -m "$2"); shift 2 ;;
    --out) OUT_DIR=$(realpath -m "$2"); shift 2 ;;
    --no-image) MAKE_IMAGE=0; shift ;;
    --no-deb) MAKE_DEB=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUT_DIR=${OUT_DIR:-$BUILD_DIR/package}

say() { echo "package.sh: $*" >&2; }

# What this script runs, by the Debian package that provides it.
need=(dpkg-dev:dpkg-shlibdeps binutils:strip libc-bin:ldd ca-certificates:/etc/ssl/certs/ca-certificates.crt)
((MAKE_IMAGE)) && need+=(podman:podman runc:runc)
missing=()
for entry in "${need[@]}"; do
  pkg=${entry%%:*} what=${entry#*:}
  if [[ $what == /* ]]; then [[ -e $what ]] || missing+=("$pkg"); else command -v "$what" >/dev/null || missing+=("$pkg"); fi
done
if ((${#missing[@]})); then
  if ((!INSTALL)); then say "missing: ${missing[*]} (run without --no-install to apt-get them)"; exit 3; fi
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The binary: reuse the build's, or build only the agent.
AGENT="$BUILD_DIR/agent/agent"
if [[ ! -x $AGENT ]]; then
  say "no $AGENT: building the agent"
  if [[ $BUILD_DIR == "$SOURCE_DIR/build/default" ]]; then
    (cd "$SOURCE_DIR" && cmake --preset default >&2 && cmake --build --preset default --target agent >&2)
  else
    cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    cmake --build "$BUILD_DIR" --target agent >&2
  fi
fi
if ldd "$AGENT" | grep -q libasan; then
  say "$AGENT is a sanitizer build; package a release build (--build-dir build/default)"; exit 2
fi
VERSION=$("$AGENT" --version | awk '{print $3}')
ARCH=$(dpkg --print-architecture)
BIN_NAME=connwatch-agent
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "$OUT_DIR/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A stripped copy: line tables and symbols stay in the build tree.
strip --strip-unneeded -o "$WORK/$BIN_NAME" "$AGENT"

# The systemd unit with the package's own paths and the exporter-toolkit flag names.
unit() {
  sed -e "s|/usr/local/bin/agent|/usr/bin/$BIN_NAME|g" \
      -e "s|/usr/local/share/doc/connwatch|/usr/share/doc/connwatch|g" \
      -e "s|Installed to lib/systemd/system/ by \`cmake --install\`.|Installed by the connwatch .deb.|" \
      -e "s|^# Create the user once:.*|# The connwatch system user is created by the package.|" \
      "$SOURCE_DIR/deploy/systemd/connwatch.service"
}

DEB=""
if ((MAKE_DEB)); then
  root="$WORK/deb"
  install -D -m 0755 "$WORK/$BIN_NAME" "$root/usr/bin/$BIN_NAME"
  install -D -m 0644 "$SOURCE_DIR/config/agent.toml" "$root/etc/connwatch/agent.toml"
  install -d "$root/lib/systemd/system"
  unit >"$root/lib/systemd/system/connwatch.service"
  chmod 0644 "$root/lib/systemd/system/connwatch.service"
  share="$root/usr/share/connwatch"
  install -d "$share/dashboards" "$share/deploy/kubernetes"
  cp -r "$SOURCE_DIR/dashboards/grafana" "$SOURCE_DIR/dashboards/rules" \
        "$SOURCE_DIR/dashboards/provisioning" "$share/dashboards/"
  install -m 0644 "$SOURCE_DIR/dashboards/RUNBOOK.md" "$SOURCE_DIR/dashboards/README.md" "$share/dashboards/"
  install -m 0644 "$SOURCE_DIR/agent/diagnose/report.schema.json" "$share/"
  install -m 0644 "$SOURCE_DIR/deploy/kubernetes/"*.yaml "$share/deploy/kubernetes/"
  doc="$root/usr/share/doc/connwatch"
  install -d "$doc/examples"
  install -m 0644 "$SOURCE_DIR/README.md" "$SOURCE_DIR/docs/"*.md "$doc/"
  install -m 0644 "$SOURCE_DIR/config/examples/"*.toml "$doc/examples/"
  printf 'connwatch\nSource: the connwatch repository, revision %s.\n' \
    "$("$AGENT" --version | sed -n 's/.*(revision \(.*\))/\1/p')" >"$doc/copyright"
  find "$root" -type d -exec chmod 0755 {} +
  find "$root/usr/share" "$root/etc" -type f -exec chmod 0644 {} +

  # Depends from the binary's shared libraries, as dpkg-shlibdeps computes them for Debian.
  mkdir -p "$WORK/shlibs/debian"
  printf 'Source: connwatch\n\nPackage: connwatch\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
  shlibs=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "$root/usr/bin/$BIN_NAME" 2>/dev/null |
           sed -n 's/^shlibs:Depends=//p')

  install -d "$root/DEBIAN"
  cat >"$root/DEBIAN/control" <<EOF
Package: connwatch
Version: $VERSION
Architecture: $ARCH
Maintainer: connwatch maintainers <connwatch@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $shlibs, passwd
Recommends: ca-certificates
Section: net
Priority: optional
Homepage: https://github.com/connwatch/connwatch
Description: tells operators why TCP connections die
 A Prometheus exporter and one-shot diagnosis for TCP resets, TIME_WAIT,
 ephemeral port and file descriptor exhaustion, and pooled-client problems:
 passive capture of SYN/FIN/RST, kernel socket tables, and active probes.
 Run: connwatch-agent --diagnose, or the systemd service connwatch.
EOF
  echo /etc/connwatch/agent.toml >"$root/DEBIAN/conffiles"
  # Maintainer scripts honour DPKG_ROOT, so dpkg --root DIR --force-script-chrootless works.
  cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! grep -q '^connwatch:' "$DPKG_ROOT/etc/passwd"; then
    if [ -n "$DPKG_ROOT" ]; then prefix="--prefix $DPKG_ROOT"; else prefix=""; fi
    # shellcheck disable=SC2086
    useradd $prefix --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "connwatch agent" connwatch
  fi
  if [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    if [ -z "$2" ]; then systemctl enable --now connwatch.service >/dev/null || true; fi
  fi
fi
exit 0
EOF
  cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl disable --now connwatch.service >/dev/null || true
fi
exit 0
EOF
  cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -z "$DPKG_ROOT" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
fi
# The connwatch user stays after purge, as Debian policy keeps system users (files may be owned).
exit 0
EOF
  chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
  DEB="$OUT_DIR/connwatch_${VERSION}_${ARCH}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$DEB" >&2
  say "$(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB"
fi

IMAGE=""
if ((MAKE_IMAGE)); then
  ctx="$WORK/image"
  rootfs="$ctx/rootfs"
  install -D -m 0755 "$WORK/$BIN_NAME" "$rootfs/usr/bin/$BIN_NAME"
  # Every shared library the binary loads, at the path the loader looks for it, and the loader.
  ldd "$AGENT" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | sort -u | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
  install -D -m 0644 "$SOURCE_DIR/config/agent.toml" "$rootfs/etc/connwatch/agent.toml"
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$rootfs/usr/lib/ssl" "$rootfs/tmp"
  ln -s /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
  ln -s /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nconnwatch:x:65532:65532:connwatch agent:/nonexistent:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nconnwatch:x:65532:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 9873
LABEL org.opencontainers.image.title="connwatch" \\
      org.opencontainers.image.version="$VERSION" \\
      org.opencontainers.image.description="Tells operators why TCP connections die"
ENTRYPOINT ["/usr/bin/$BIN_NAME"]
CMD ["--config.file=/etc/connwatch/agent.toml"]
EOF
  IMAGE="connwatch:$VERSION"
  previous=$(podman image inspect --format '{{.Id}}' "localhost/$IMAGE" 2>/dev/null || true)
  podman build --runtime runc --layers=false -q -t "localhost/$IMAGE" -f "$ctx/Containerfile" "$ctx" >&2
  # The image this tag named before is now untagged: remove it unless a container uses it.
  current=$(podman image inspect --format '{{.Id}}' "localhost/$IMAGE")
  if [[ -n $previous && $previous != "$current" ]]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
  say "$IMAGE: $(podman image inspect --format '{{.Size}}' "localhost/$IMAGE") bytes"
fi

[[ -n $DEB ]] && echo "$DEB"
[[ -n $IMAGE ]] && echo "$IMAGE"
exit 0
