# Sourced by the checks that install one more pinned package into check-hf's venv
# (scripts/check-lmeval, scripts/check-tensorboard): the venv made first by `scripts/check-hf
# --setup-only`, check-hf's pins held as constraints while the package installs, a stamp so that
# the install runs again only when a pin changes.
#
#   addon_install NAME PIN MODULE   # e.g. addon_install check-lmeval lm_eval==0.4.13 lm_eval
#
# Uses $root (the source tree) and $venv; PLINTH_HF_OPTIONAL=1 turns a PyPI failure into
# "NAME: SKIPPED" and exit 0, as in check-hf.

addon_skip_or_fail() {
  local name="$1" why="$2"
  if [ "${PLINTH_HF_OPTIONAL:-0}" = 1 ]; then
    echo "$name: SKIPPED: $why" >&2
    exit 0
  fi
  echo "$name: FAILED: $why (PLINTH_HF_OPTIONAL=1 turns this into a skip)" >&2
  exit 1
}

addon_install() {
  local name="$1" pin="$2" module="$3" constraints stamp stamp_text t0
  # check-hf's venv first (it is a no-op when that venv is up to date).
  PLINTH_HF_OPTIONAL="${PLINTH_HF_OPTIONAL:-0}" bash "$root/scripts/check-hf" --setup-only >/dev/null ||
    addon_skip_or_fail "$name" "check-hf's venv could not be made"
  [ -x "$venv/bin/python" ] || addon_skip_or_fail "$name" "no venv at $venv (check-hf skipped its download)"
  # check-hf's pins, read from its script, hold while the package installs.
  constraints="$(mktemp)"
  sed -n '/^pins=(/,/^)/p' "$root/scripts/check-hf" | grep -Eo '[A-Za-z0-9_.-]+==[^ ]+' >"$constraints"
  grep -Eo '^torch_pin="[^"]+"' "$root/scripts/check-hf" | cut -d'"' -f2 >>"$constraints"
  stamp="$venv/.plinth-$module-stamp"
  stamp_text="$pin $(tr '\n' ' ' <"$constraints")"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$stamp_text" ] || ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    t0=$(date +%s)
    echo "$name: installing $pin into $venv"
    "$venv/bin/pip" install -q -c "$constraints" "$pin" ||
      { rm -f "$constraints"; addon_skip_or_fail "$name" "could not install $pin from PyPI"; }
    echo "$stamp_text" >"$stamp"
    echo "$name: $pin ready in $(($(date +%s) - t0)) s"
  fi
  rm -f "$constraints"
}
