#!/usr/bin/env bash
# Builds a stand-in for public.ecr.aws/lambda/python:3.12 from Debian bookworm (debootstrap minbase) and a
# self-contained CPython 3.12 build, and imports it into the Docker engine that DOCKER_HOST names.
#   build.sh TAG PYTHON_PREFIX RIE_BINARY AWSLAMBDARIC_VERSION
# Same contract as AWS's base: /var/lang (Python), /var/runtime (awslambdaric + bootstrap), /var/task,
# /opt/python on the path for layers, /lambda-entrypoint.sh, the emulator at /usr/local/bin/aws-lambda-rie.
set -euo pipefail
tag=$1 python_prefix=$2 rie=$3 ric_version=$4
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/tmp}/slmesh-lambda-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

packages=$(grep -v '^#' "$here/packages.txt" | paste -sd, -)
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# What a running function never reads: package caches and lists, documentation, translations.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/{doc,man,info,locale}/*

# The interpreter without its test suite, Tk and IDLE, or a site-packages .pth of the build machine.
mkdir -p "$root/var/lang"
tar -C "$python_prefix" -cf - \
  --exclude=lib/python3.12/test --exclude=lib/python3.12/tkinter --exclude=lib/python3.12/idlelib \
  --exclude=lib/python3.12/turtledemo --exclude='lib/python3.12/config-3.12-*' --exclude='lib/tcl*' \
  --exclude='lib/tk*' --exclude='lib/itcl*' --exclude='lib/python3.12/site-packages/*.pth' \
  --exclude=lib/pkgconfig bin lib | tar -C "$root/var/lang" -xf -
# Scripts such as pip name the interpreter by its build path.
grep -lIr "^#!$python_prefix/bin/" "$root/var/lang/bin" | xargs -r sed -i "1s|^#!$python_prefix/bin/|#!/var/lang/bin/|"
env -u PYTHONPATH "$python_prefix/bin/python3.12" -m pip install --quiet --no-warn-script-location \
  --target "$root/var/runtime" "awslambdaric==$ric_version"

install -D -m 0755 "$rie" "$root/usr/local/bin/aws-lambda-rie"
install -m 0755 "$here/lambda-entrypoint.sh" "$root/lambda-entrypoint.sh"
install -m 0755 "$here/bootstrap" "$root/var/runtime/bootstrap"
mkdir -p "$root/var/task" "$root/opt"

tar -C "$root" --numeric-owner -cf - . | docker import \
  --change 'ENV LANG=en_US.UTF-8' \
  --change 'ENV TZ=:/etc/localtime' \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'WORKDIR /var/task' \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  - "$tag" >/dev/null
