package nfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
)

// State is what Read finds on the guest.
type State struct {
	Exports     string // /etc/exports
	ExportLine  string // its line for the path ("" when none)
	ExportfsV   string // `exportfs -v`: what the kernel server exports (or would, from the files)
	Exported    bool   // ExportfsV lists the path
	GaneshaConf string
	GaneshaPID  int // 0 when ganesha.nfsd is not running

	DirExists bool
	DirMode   string // octal permissions of the export directory, e.g. "777"

	// The volume. Devices are compared by number (MAJ:MIN), not by name: a link such as
	// /dev/disk/by-id/... or /dev/VG/LV names the same device as the /dev/sdb or
	// /dev/mapper/VG-LV that the mount table shows.
	DeviceFSType string // file system on Config.Device ("" = none, or no device configured)
	DeviceNumber string // MAJ:MIN of Config.Device ("" = not a block device, or none configured)
	MountSource  string // what is mounted at the mount point ("" = nothing of its own)
	MountFSType  string
	MountNumber  string // MAJ:MIN of the file system on top of the mount point
	FstabLine    string // /etc/fstab line for the mount point
	// FstabNumber is the MAJ:MIN of the /dev/ device FstabLine names ("" for UUID=, LABEL=
	// or no line).
	FstabNumber string
}

// Drift lists, in words, where the guest differs from c. Empty means Apply has nothing to do.
func (s State) Drift(c Config) []string {
	var d []string
	if c.Device != "" {
		if !s.volumeMounted(c) {
			d = append(d, fmt.Sprintf("%s is not mounted at %s (mounted: %q)", c.Device, c.mountPoint(), s.MountSource))
		}
		if !s.fstabNamesDevice(c) {
			d = append(d, "/etc/fstab has no line for "+c.Device)
		}
	}
	if !s.DirExists || s.DirMode != "777" {
		d = append(d, fmt.Sprintf("%s is missing or not world-writable (mode %q)", c.path(), s.DirMode))
	}
	switch c.server() {
	case Kernel:
		if s.ExportLine != c.ExportLine() {
			d = append(d, fmt.Sprintf("%s has %q, want %q", ExportsFile, s.ExportLine, c.ExportLine()))
		} else if !s.Exported {
			d = append(d, c.path()+" is not in the export table (exportfs -ra pending)")
		}
	case Ganesha:
		if s.GaneshaConf != RenderGanesha(c) {
			d = append(d, GaneshaConf+" differs")
		}
		if s.GaneshaPID == 0 {
			d = append(d, "ganesha.nfsd is not running")
		}
	}
	return d
}

// volumeMounted tells whether c's device is the file system on top of the mount point.
func (s State) volumeMounted(c Config) bool {
	if s.DeviceNumber != "" {
		return s.MountNumber == s.DeviceNumber
	}
	return s.MountSource != "" && s.MountSource == c.Device
}

// fstabNamesDevice tells whether the /etc/fstab line for the mount point names c's device, as
// the configuration writes it.
func (s State) fstabNamesDevice(c Config) bool {
	f := strings.Fields(s.FstabLine)
	return len(f) >= 2 && f[0] == c.Device
}

// FstabVolume is the device /etc/fstab names for the mount point when it is the file system
// mounted there ("" otherwise): what an import can take for the configuration's device.
func (s State) FstabVolume() string {
	f := strings.Fields(s.FstabLine)
	if len(f) == 0 || s.FstabNumber == "" || s.FstabNumber != s.MountNumber {
		return ""
	}
	return f[0]
}

// ReadScript is the shell fragment Read runs; the resource may concatenate several recipes'
// fragments into one command and give the output to each Parse. c must be valid.
func ReadScript(c Config) string {
	sec := func(name string) string { return guest.EchoSection("nfs", name) }
	dev := c.Device
	return "# read nfs\n(\n" +
		sec("exports") + "cat " + ExportsFile + " 2>/dev/null; echo\n" +
		sec("exportfs") + "command -v exportfs >/dev/null && exportfs -v 2>&1; echo\n" +
		sec("ganesha") + "cat " + GaneshaConf + " 2>/dev/null; echo\n" +
		sec("ganesha-pid") + "p=$(cat " + GaneshaPIDFile + " 2>/dev/null) && kill -0 \"$p\" 2>/dev/null && echo \"$p\"\n" +
		sec("dir") + "stat -c %a '" + c.path() + "' 2>/dev/null\n" +
		sec("device") + "[ -z '" + dev + "' ] || blkid -o value -s TYPE '" + dev + "' 2>/dev/null\n" +
		sec("device-number") + "[ -z '" + dev + "' ] || mountpoint -x '" + dev + "' 2>/dev/null\n" +
		// With file systems stacked on the mount point, the last line is the one on top: the
		// one the export's path is on.
		sec("mount") + "findmnt -n -o SOURCE,FSTYPE,MAJ:MIN --mountpoint '" + c.mountPoint() + "' 2>/dev/null | tail -n 1\n" +
		sec("fstab") + "fstab=$(awk '$2 == \"" + c.mountPoint() + "\"' /etc/fstab 2>/dev/null); echo \"$fstab\"\n" +
		// The device the (first) line names, by number.
		sec("fstab-number") + "set -- $fstab; case ${1:-} in /dev/*) mountpoint -x \"$1\" 2>/dev/null ;; esac\n" +
		sec("end") + ")\n"
}

// Read returns the guest's export with one command.
func Read(ctx context.Context, r guest.Runner, c Config) (State, error) {
	if err := c.Validate(); err != nil {
		return State{}, err
	}
	out, err := r.Run(ctx, ReadScript(c), nil)
	if err != nil {
		return State{}, fmt.Errorf("read nfs: %w", err)
	}
	return Parse(string(out), c)
}

func fileSection(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s + "\n"
}

// Parse reads the output of ReadScript(c) (alone or among other recipes' sections).
func Parse(out string, c Config) (State, error) {
	sec := guest.Sections(out, "nfs")
	for _, s := range []string{"exports", "exportfs", "ganesha", "ganesha-pid", "dir", "device", "device-number", "mount", "fstab", "fstab-number", "end"} {
		if _, ok := sec[s]; !ok {
			return State{}, fmt.Errorf("read nfs: output has no %s section", s)
		}
	}
	st := State{
		Exports:      fileSection(sec["exports"]),
		ExportfsV:    strings.TrimSpace(sec["exportfs"]),
		GaneshaConf:  fileSection(sec["ganesha"]),
		DirMode:      strings.TrimSpace(sec["dir"]),
		DeviceFSType: strings.TrimSpace(sec["device"]),
		DeviceNumber: strings.TrimSpace(sec["device-number"]),
		FstabLine:    strings.TrimSpace(sec["fstab"]),
		FstabNumber:  strings.TrimSpace(sec["fstab-number"]),
	}
	st.GaneshaPID, _ = strconv.Atoi(strings.TrimSpace(sec["ganesha-pid"]))
	st.DirExists = st.DirMode != ""
	if f := strings.Fields(sec["mount"]); len(f) >= 3 {
		st.MountSource, st.MountFSType, st.MountNumber = f[0], f[1], f[2]
	}
	for _, line := range strings.Split(st.Exports, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == c.path() {
			st.ExportLine = strings.TrimSpace(line)
		}
	}
	for _, line := range strings.Split(st.ExportfsV, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == c.path() {
			st.Exported = true
		}
	}
	return st, nil
}

// Result says what Apply did.
type Result struct {
	Before  State
	Changed []string // "volume", "directory", "exports", "exportfs", "ganesha.conf", "ganesha"
}

// volumeScript formats the device only when blkid finds no file system on it (checked on
// the guest at the moment of formatting, not from an earlier read), then mounts it and adds
// it to /etc/fstab (by the name given, which may be a stable link such as /dev/disk/by-id/...).
// It mounts it unless it is already the file system on top of the mount point (by device
// number: see State). Before changing
// anything it refuses to mount it over another device (an earlier nfs_device, whose files the
// nodes would lose sight of) or over a folder that is not empty (an export under /var would
// mount the volume on /var).
func volumeScript(c Config) string {
	dev, mp := c.Device, c.mountPoint()
	return `# prepare nfs volume ` + dev + `
set -e
dev='` + dev + `'; mp='` + mp + `'
[ -b "$dev" ] || { echo "$dev is not a block device" >&2; exit 1; }
want=$(mountpoint -x "$dev")
top=$(findmnt -n -o MAJ:MIN --mountpoint "$mp" | tail -n 1 | tr -d ' ')
if [ "$top" != "$want" ]; then
	topsrc=$(findmnt -n -o SOURCE --mountpoint "$mp" | tail -n 1)
	case $topsrc in
	/dev/*) echo "$mp has $topsrc mounted: mounting $dev over it would hide the files on $topsrc (copy them to $dev mounted elsewhere, then unmount $topsrc and remove its /etc/fstab line)" >&2; exit 1 ;;
	esac
	if [ -n "$(ls -A "$mp" 2>/dev/null)" ]; then
		echo "$mp is not empty: mounting $dev over it would hide what is in it (format $dev, mount it elsewhere, copy the files over, unmount it and empty $mp; or export a folder whose parent is empty)" >&2; exit 1
	fi
fi
if [ -z "$(blkid -o value -s TYPE "$dev")" ]; then
	mkfs.ext4 -q -L hipchat-nfs "$dev"
fi
mkdir -p "$mp"
awk -v mp="$mp" '$2 != mp' /etc/fstab > /etc/fstab.hipchatdc
printf '%s\t%s\t%s\tdefaults,nofail\t0\t2\n' "$dev" "$mp" "$(blkid -o value -s TYPE "$dev")" >> /etc/fstab.hipchatdc
mv /etc/fstab.hipchatdc /etc/fstab
[ "$top" = "$want" ] || mount "$mp"
`
}

// ganeshaScript (re)starts nfs-ganesha: under systemd through its unit, elsewhere (the lab)
// directly; ganesha.nfsd daemonizes. It waits until port 2049 listens.
func ganeshaScript() string {
	return `# restart nfs-ganesha
set -e
if [ -d /run/systemd/system ]; then systemctl restart nfs-ganesha; exit 0; fi
install -d /run/ganesha /var/log/ganesha
if pid=$(cat ` + GaneshaPIDFile + ` 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
` + guest.StopPID("ganesha.nfsd") + `fi
setsid ganesha.nfsd -f ` + GaneshaConf + ` -L ` + GaneshaLog + ` -p ` + GaneshaPIDFile + ` </dev/null >/dev/null 2>&1
` + guest.WaitUntil("ss -Hltn 'sport = :2049' | grep -q .", "ganesha.nfsd does not listen on 2049", GaneshaLog)
}

// Apply brings the guest's export to c, changing only what differs; a second Apply with the
// same c runs no changing command. Switching servers leaves the other one's files alone.
func Apply(ctx context.Context, r guest.Runner, c Config) (Result, error) {
	return apply(ctx, r, c, true)
}

// Prepare makes the export directory (on its volume when c has a Device) as Apply does, but
// does not export it: a restore fills the directory before any node can mount it. Apply
// afterwards exports it and finds the rest in place.
func Prepare(ctx context.Context, r guest.Runner, c Config) (Result, error) {
	return apply(ctx, r, c, false)
}

func apply(ctx context.Context, r guest.Runner, c Config, export bool) (Result, error) {
	var res Result
	st, err := Read(ctx, r, c)
	if err != nil {
		return res, err
	}
	res.Before = st
	change := func(what, script string) error {
		if _, err := r.RunChange(ctx, script, nil); err != nil {
			return fmt.Errorf("nfs: %s: %w", what, err)
		}
		res.Changed = append(res.Changed, what)
		return nil
	}
	if c.Device != "" {
		if !st.volumeMounted(c) || !st.fstabNamesDevice(c) {
			if err := change("volume", volumeScript(c)); err != nil {
				return res, err
			}
			st.DirExists = false // the directory must be checked on the mounted volume
		}
	}
	if !st.DirExists || st.DirMode != "777" {
		// World-writable: the nodes write as whatever uid their processes have.
		if err := change("directory", "# create nfs export directory\nmkdir -p '"+c.path()+"' && chmod 0777 '"+c.path()+"'"); err != nil {
			return res, err
		}
	}
	if !export {
		return res, nil
	}
	switch c.server() {
	case Kernel:
		if want := RenderExports(st.Exports, c); want != st.Exports {
			if err := r.WriteFile(ctx, ExportsFile, []byte(want), 0o644, "root:root"); err != nil {
				return res, fmt.Errorf("nfs: %w", err)
			}
			res.Changed = append(res.Changed, "exports")
		}
		if len(res.Changed) > 0 || !st.Exported {
			// Where the kernel server can run (systemd), make sure it does; exportfs -ra
			// (re)applies /etc/exports either way.
			if err := change("exportfs", "# export nfs\nexportfs -ra\nif [ -d /run/systemd/system ]; then systemctl is-active -q nfs-server || systemctl start nfs-server; fi"); err != nil {
				return res, err
			}
		}
	case Ganesha:
		want := RenderGanesha(c)
		if st.GaneshaConf != want {
			if err := r.WriteFile(ctx, GaneshaConf, []byte(want), 0o644, "root:root"); err != nil {
				return res, fmt.Errorf("nfs: %w", err)
			}
			res.Changed = append(res.Changed, "ganesha.conf")
		}
		if st.GaneshaConf != want || st.GaneshaPID == 0 {
			if err := change("ganesha", ganeshaScript()); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}
