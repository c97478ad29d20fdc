// Package nfs configures the NFS v4 export of the guide's data-stores VM: a directory on its
// own volume, readable and writable anonymously by the Hipchat nodes, root squashing off,
// restricted to the nodes' network.
//
// Two servers are supported. "kernel" (the default, what a Debian VM normally runs) is a line
// in /etc/exports applied with exportfs -ra. "ganesha" is nfs-ganesha, a userspace NFS v4
// server, with the provider's ganesha.conf. Both mean the same: NFS v4, AUTH_SYS without
// Kerberos (the guide's "anonymously": no user mapping or credentials beyond the client's
// uid), read-write, no root squash, a world-writable directory, only the given network.
//
// The volume: when Config.Device is set, a device without a file system gets ext4 and is
// mounted at the export's parent (and in /etc/fstab). A device that already has a file system
// is never formatted: a re-created resource must not wipe the shared files.
package nfs

import (
	"fmt"
	"hash/crc32"
	"net/netip"
	"path"
	"strings"
)

// Servers.
const (
	Kernel  = "kernel"
	Ganesha = "ganesha"
)

// Files.
const (
	ExportsFile    = "/etc/exports"
	GaneshaConf    = "/etc/ganesha/ganesha.conf"
	GaneshaPIDFile = "/run/ganesha/ganesha.pid"
	GaneshaLog     = "/var/log/ganesha/ganesha.log"
	DefaultPath    = "/srv/hipchat-nfs"
)

// Config is the export a user asks for.
type Config struct {
	Path        string       // exported directory; DefaultPath when empty
	AllowedCIDR netip.Prefix // the Hipchat nodes' network
	Server      string       // Kernel (default) or Ganesha
	// Device is the block device of the NFS volume (the VM's second disk, e.g. /dev/sdb).
	// Empty: the export's directory is used as it is.
	Device string
	// MountPoint is where Device is mounted; the parent of Path when empty.
	MountPoint string
}

func (c Config) path() string {
	if c.Path == "" {
		return DefaultPath
	}
	return c.Path
}

func (c Config) server() string {
	if c.Server == "" {
		return Kernel
	}
	return c.Server
}

func (c Config) mountPoint() string {
	if c.MountPoint == "" {
		return path.Dir(c.path())
	}
	return c.MountPoint
}

// Packages is what a guest needs for c.
func (c Config) Packages() []string {
	if c.server() == Ganesha {
		return []string{"nfs-ganesha", "nfs-ganesha-vfs"}
	}
	return []string{"nfs-kernel-server"}
}

// Validate checks c: paths end up in config files and on command lines.
func (c Config) Validate() error {
	for _, p := range []string{c.path(), c.mountPoint(), c.Device} {
		if p == "" {
			continue
		}
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, " \t\n\"'\\;#{}$`()") {
			return fmt.Errorf("nfs: %q must be a clean absolute path without spaces, quotes or shell characters", p)
		}
	}
	if c.Device != "" && !strings.HasPrefix(c.path()+"/", c.mountPoint()+"/") {
		return fmt.Errorf("nfs: export %s is not on the volume mounted at %s", c.path(), c.mountPoint())
	}
	if !c.AllowedCIDR.IsValid() || !c.AllowedCIDR.Addr().Is4() {
		return fmt.Errorf("nfs: the nodes' network (IPv4 CIDR) is not set")
	}
	if s := c.server(); s != Kernel && s != Ganesha {
		return fmt.Errorf("nfs: server %q is neither %q nor %q", s, Kernel, Ganesha)
	}
	return nil
}

// fsid is a stable export id derived from the path. The kernel server needs one for file
// systems without a UUID (tmpfs); a fixed number per path keeps client file handles valid
// across reboots and re-exports.
func (c Config) fsid() uint32 { return crc32.ChecksumIEEE([]byte(c.path()))%(1<<31-1) + 1 }

// ExportOptions are the kernel server's options, and why:
//   - rw, sync: read-write, and a write is on disk when the server says so;
//   - no_root_squash: the guide requires root squashing off;
//   - sec=sys: AUTH_SYS without Kerberos, the guide's anonymous access;
//   - insecure: clients may use ports above 1023 (userspace clients, NAT);
//   - no_subtree_check: the export is a whole directory tree; checks only cost;
//   - fsid: see fsid.
//
// NFS v4 needs no extra option: the kernel server serves v4 on every export, and fsid=0 (a v4
// pseudo-root) is deliberately not used, so that clients mount the same path as on v3.
func (c Config) ExportOptions() string {
	return fmt.Sprintf("rw,sync,no_subtree_check,no_root_squash,insecure,sec=sys,fsid=%d", c.fsid())
}

// ExportLine is the /etc/exports line for c.
func (c Config) ExportLine() string {
	return fmt.Sprintf("%s %s(%s)", c.path(), c.AllowedCIDR.Masked(), c.ExportOptions())
}

// RenderExports returns /etc/exports with c's line, replacing a line for the same path and
// keeping every other line.
func RenderExports(exports string, c Config) string {
	var out []string
	placed := false
	for _, line := range strings.Split(strings.TrimRight(exports, "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == c.path() {
			if !placed {
				out = append(out, c.ExportLine())
				placed = true
			}
			continue
		}
		out = append(out, line)
	}
	if exports == "" {
		out = nil
	}
	if !placed {
		out = append(out, c.ExportLine())
	}
	return strings.Join(out, "\n") + "\n"
}

// RenderGanesha returns the whole ganesha.conf for c: NFS v4 only over TCP, one export with
// the kernel line's meaning.
func RenderGanesha(c Config) string {
	return `# Managed by terraform-provider-hipchatdc (hipchatdc_datastore_node); changes are overwritten.
# Hipchat Data Center small-scale guide: NFS v4, anonymous read-write, root squashing off.
NFS_CORE_PARAM {
	# NFS v4 only: no NLM, RQUOTA or MOUNT protocol, so no rpcbind is needed.
	Protocols = 4;
	Enable_NLM = false;
	Enable_RQUOTA = false;
}

NFSV4 {
	# No 90 s grace period after a restart: the nodes do not hold NFS locks to reclaim, and
	# the grace period would refuse their writes while it lasts.
	Graceless = true;
}

EXPORT {
	Export_Id = 1;
	Path = ` + c.path() + `;
	Pseudo = ` + c.path() + `;
	Protocols = 4;
	Transports = TCP;
	SecType = sys;
	Squash = No_Root_Squash;
	# Nobody outside the nodes' network gets in.
	Access_Type = None;
	FSAL {
		Name = VFS;
	}
	CLIENT {
		Clients = ` + c.AllowedCIDR.Masked().String() + `;
		Access_Type = RW;
	}
}
`
}
