# SPDX-License-Identifier: Apache-2.0
# Shared shell helpers for scripts/*; source it, do not run it.

# apt_install PKG... installs the Debian packages that are not installed yet
# (names may carry an architecture, e.g. libx264-dev:arm64). It tries the
# install first and refreshes the package lists only if that fails; a
# refresh that reports errors (a mirror in mid-sync fails one index file) is
# not fatal by itself: the install that follows decides.
apt_install() {
	local missing=() p p_q native
	native=$(dpkg --print-architecture)
	for p in "$@"; do
		# With foreign architectures enabled, a bare name can be ambiguous
		# to dpkg: ask for the native one explicitly.
		[[ $p == *:* ]] || p_q=$p:$native
		dpkg -s "${p_q:-$p}" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
		unset p_q
	done
	((${#missing[@]})) || return 0
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
	echo "apt_install: installing ${missing[*]}" >&2
	if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		"${apt[@]}" update >/dev/null 2>&1 || echo "apt_install: apt-get update reported errors; trying the install anyway" >&2
		"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# add_foreign_arch ARCH enables a Debian foreign architecture (for
# multiarch libraries and the arm64 guest kernel) and refreshes the lists.
add_foreign_arch() {
	dpkg --print-foreign-architectures | grep -qx "$1" && return 0
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	"${sudo[@]}" dpkg --add-architecture "$1"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 ||
		echo "add_foreign_arch: apt-get update reported errors; trying anyway" >&2
}
