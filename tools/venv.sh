#!/bin/sh
# Make .venv trustworthy, or say exactly what to do: `make` runs this before every target.
#
#   tools/venv.sh PYTHON VENV INSTALL...
#
# 1. PYTHON must exist and be >= 3.10, checked before anything is created.
# 2. .venv is trusted only if its stamp (written last, after a successful
#    install) names the same interpreter and the same pyproject.toml; an
#    interrupted or failed run leaves no stamp, so the next run starts over.
# 3. A different interpreter (make PYTHON=python3.12) rebuilds .venv from scratch.
set -eu
python=$1
venv=$2
shift 2
stamp="$venv/.tokentool-stamp"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "make: no interpreter '$python': install Python >= 3.10 and run make PYTHON=/path/to/python3" >&2
    exit 1
fi
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || {
    echo "make: '$python' does not run as a Python interpreter: install Python >= 3.10 and run make PYTHON=/path/to/python3" >&2
    exit 1
}
case $version in
    3.1[0-9] | 3.[2-9][0-9]) ;;
    *)
        echo "make: $python is Python $version; tokentool needs Python >= 3.10." >&2
        echo "make: install one and run e.g. make PYTHON=python3.12 (nothing was created)" >&2
        exit 1
        ;;
esac
real=$("$python" -c 'import sys; print(sys.executable)')
want="python=$real version=$version pyproject=$(cksum < pyproject.toml | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi
if [ -f "$stamp" ] && grep -q "^python=$real " "$stamp" && [ -x "$venv/bin/python" ]; then
    echo "make: pyproject.toml changed: reinstalling into $venv" >&2
    rm -f "$stamp"
else
    echo "make: creating $venv with $python (Python $version)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
echo "$want" > "$stamp"
