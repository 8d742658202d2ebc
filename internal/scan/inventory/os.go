package inventory

import (
	"strings"

	"github.com/google/osv-scalibr/extractor/filesystem/os/osrelease"
	scalibrfs "github.com/google/osv-scalibr/fs"
)

// OS is an image's operating system as os-release(5) describes it.
type OS struct {
	// ID is os-release's ID ("debian", "alpine", "rhel", …).
	ID string `json:"id,omitempty"`
	// VersionID is os-release's VERSION_ID ("12", "3.20.3", …).
	VersionID string `json:"versionId,omitempty"`
	// PrettyName is os-release's PRETTY_NAME.
	PrettyName string `json:"prettyName,omitempty"`
	// Ecosystem is the OSV ecosystem of the OS's packages ("Debian:12",
	// "Alpine:v3.20", "Ubuntu:22.04:LTS", "Rocky Linux:9", …), "" when the OS
	// is unknown to OSV.
	Ecosystem string `json:"ecosystem,omitempty"`
}

// DetectOS reads etc/os-release (or usr/lib/os-release) from fsys. An image
// without one (distroless static, scratch) yields the zero OS.
func DetectOS(fsys scalibrfs.FS) OS {
	m, err := osrelease.GetOSRelease(fsys)
	if err != nil || m == nil {
		return OS{}
	}
	o := OS{ID: m["ID"], VersionID: m["VERSION_ID"], PrettyName: m["PRETTY_NAME"]}
	o.Ecosystem = Ecosystem(o.ID, o.VersionID, m["VERSION"])
	return o
}

// Ecosystem maps os-release's ID, VERSION_ID and VERSION to the OSV
// ecosystem name its packages are published under, or "" if OSV has none.
func Ecosystem(id, versionID, version string) string {
	major, _, _ := strings.Cut(versionID, ".")
	withSuffix := func(name, suffix string) string {
		if suffix == "" {
			return name
		}
		return name + ":" + suffix
	}
	switch id {
	case "debian":
		return withSuffix("Debian", major)
	case "ubuntu":
		e := withSuffix("Ubuntu", versionID)
		if strings.Contains(version, "LTS") {
			e += ":LTS"
		}
		return e
	case "alpine":
		parts := strings.SplitN(versionID, ".", 3)
		if len(parts) < 2 {
			return "Alpine"
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "rhel":
		return "Red Hat"
	case "rocky":
		return withSuffix("Rocky Linux", major)
	case "almalinux":
		return withSuffix("AlmaLinux", major)
	case "opensuse-leap":
		return withSuffix("openSUSE", "Leap "+versionID)
	case "sles":
		return "SUSE"
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	case "photon":
		return withSuffix("Photon OS", versionID)
	case "azurelinux", "mariner":
		return withSuffix("Azure Linux", major)
	}
	return ""
}
