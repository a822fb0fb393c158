# Sourced by the checks that hide installed packages from a build: they re-run
# themselves in a private mount namespace, where only they and their children see
# the packages' directories covered by empty tmpfs (the packages stay installed).
# Needs `unshare` with mount namespaces (root, or unprivileged user namespaces).

# exitguard_in_private_mount_namespace SCRIPT [ARGS...]: returns in the namespace;
# outside it, re-runs SCRIPT ARGS there (exec: this shell ends).
exitguard_in_private_mount_namespace() {
  [ -n "${EXITGUARD_IN_NAMESPACE:-}" ] && return 0
  local unshare_cmd=(unshare --mount --propagation private)
  if ! "${unshare_cmd[@]}" true 2>/dev/null; then
    unshare_cmd=(unshare --user --map-root-user --mount --propagation private)
    "${unshare_cmd[@]}" true 2>/dev/null || {
      echo "FAIL: cannot create a mount namespace (unshare); run as root or enable user namespaces" >&2
      exit 1
    }
  fi
  exec env EXITGUARD_IN_NAMESPACE=1 "${unshare_cmd[@]}" "$@"
}

# exitguard_hide_dir DIR...: covers each existing DIR with an empty tmpfs.
exitguard_hide_dir() {
  local d
  for d in "$@"; do
    if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi
  done
}
