package patch

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchloop/patchloop/distrorepo"
	"github.com/patchloop/patchloop/distrorepo/deb"
	"github.com/patchloop/patchloop/pkgdb"
)

// Paths of dpkg's database, relative to the root.
const (
	dpkgStatus      = "var/lib/dpkg/status"
	dpkgStatusD     = "var/lib/dpkg/status.d"
	dpkgInfo        = "var/lib/dpkg/info"
	dpkgDiversions  = "var/lib/dpkg/diversions"
	dpkgStatOverrid = "var/lib/dpkg/statoverride"
)

// Bounds on what is read into memory from a package or an image.
const (
	maxControlMember = 32 << 20  // one member of control.tar
	maxControlTotal  = 64 << 20  // all of control.tar
	maxConffile      = 64 << 20  // one configuration file
	maxDBFile        = 256 << 20 // status, a .list file
	maxEntries       = 1 << 22   // entries of one data.tar
)

// maintainerScripts are the control members dpkg would run, or whose
// triggers it would process.
var maintainerScripts = map[string]bool{
	"preinst": true, "postinst": true, "prerm": true, "postrm": true,
	"config": true, "triggers": true,
}

// Dpkg installs Debian packages the way `dpkg --unpack` followed by
// `dpkg --configure --force-confold` would, without running maintainer
// scripts: it writes the new files, whiteouts for the files the new versions
// dropped, and dpkg's database (status or status.d, and info/).
type Dpkg struct{}

var _ Installer = (*Dpkg)(nil)

// Family is pkgdb.Deb.
func (*Dpkg) Family() pkgdb.Family { return pkgdb.Deb }

// Paths are dpkg's database, its diversions and stat overrides, and the
// user and group databases that map package owners to ids.
func (*Dpkg) Paths() []string {
	return []string{dpkgStatus, dpkgStatusD + "/", dpkgInfo + "/", dpkgDiversions, dpkgStatOverrid, "etc/passwd", "etc/group"}
}

// topLevelLinks are the root entries that merged-/usr systems make
// symlinks; WriteLayer must see them to put files where they land.
var topLevelLinks = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// ExtraPaths are the configuration files of the upgraded packages, which
// WriteLayer compares with what the old versions shipped, and the root
// entries that may be directory symlinks.
func (d *Dpkg) ExtraPaths(db fs.FS, ups []Upgrade) ([]string, error) {
	st, err := readDpkgDB(db)
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, t := range topLevelLinks {
		dirs[t] = true
	}
	var out []string
	for _, u := range ups {
		old := st.find(u.Name, u.Arch)
		if old == nil {
			continue
		}
		for _, c := range parseConffiles(old.stanza.get("Conffiles")) {
			out = append(out, strings.TrimPrefix(c.path, "/"))
		}
		if st.distroless {
			continue
		}
		r := &dpkgRun{p: LayerParams{Root: db}}
		lines, err := r.readList(infoName(old.name(), old.arch(), old.stanza.get("Multi-Arch")))
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			if d := strings.TrimPrefix(path.Dir(l), "/"); d != "" && d != "." {
				dirs[d] = true
			}
		}
	}
	// A path below each directory makes a selecting reader record the
	// directory and every ancestor (symlinks included) without reading
	// what they hold.
	for d := range dirs {
		out = append(out, path.Join(d, DirProbe))
	}
	sort.Strings(out)
	return out, nil
}

// DirProbe is the file name ExtraPaths puts below each directory whose
// metadata WriteLayer needs (is it there, is it a symlink). No package
// ships it: selecting it costs nothing and brings in the directory.
const DirProbe = ".patchloop-dir-probe"

// dpkgDB is the parsed database of an image.
type dpkgDB struct {
	// distroless says the database is status.d/<pkg> files with no info/.
	distroless bool
	entries    []*dbEntry
}

type dbEntry struct {
	stanza stanza
	// file is the status.d file holding it (distroless only).
	file string
}

func (e *dbEntry) name() string { return e.stanza.get("Package") }
func (e *dbEntry) arch() string { return e.stanza.get("Architecture") }

// installed says dpkg has the package's files on disk.
func (e *dbEntry) installed() bool {
	f := strings.Fields(e.stanza.get("Status"))
	if len(f) != 3 {
		return false
	}
	switch f[2] {
	case "not-installed", "config-files":
		return false
	}
	return true
}

// infoName is the name of the package's files in info/: arch-qualified for
// Multi-Arch: same packages.
func infoName(name, arch, multiArch string) string {
	if multiArch == "same" {
		return name + ":" + arch
	}
	return name
}

// find returns the installed entry for name and arch. An "all" package
// replaces the single installed instance of any architecture, as dpkg's
// cross-grading does.
func (db *dpkgDB) find(name, arch string) *dbEntry {
	var single *dbEntry
	n := 0
	for _, e := range db.entries {
		if e.name() != name || !e.installed() {
			continue
		}
		if e.arch() == arch {
			return e
		}
		single = e
		n++
	}
	if n == 1 && single.stanza.get("Multi-Arch") != "same" {
		return single
	}
	return nil
}

func readDpkgDB(root fs.FS) (*dpkgDB, error) {
	f, err := root.Open(dpkgStatus)
	if err == nil {
		defer f.Close()
		sts, err := parseStanzas(io.LimitReader(f, maxDBFile))
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", dpkgStatus, err)
		}
		db := &dpkgDB{}
		for _, s := range sts {
			db.entries = append(db.entries, &dbEntry{stanza: s})
		}
		return db, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening %s: %w", dpkgStatus, err)
	}
	des, err := fs.ReadDir(root, dpkgStatusD)
	if err != nil {
		return nil, fmt.Errorf("reading dpkg database: no %s nor %s: %w", dpkgStatus, dpkgStatusD, err)
	}
	db := &dpkgDB{distroless: true}
	for _, de := range des {
		if de.IsDir() || strings.HasSuffix(de.Name(), ".md5sums") || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		p := path.Join(dpkgStatusD, de.Name())
		b, err := readFileMax(root, p, maxDBFile)
		if err != nil {
			return nil, err
		}
		sts, err := parseStanzas(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
		for _, s := range sts {
			db.entries = append(db.entries, &dbEntry{stanza: s, file: p})
		}
	}
	return db, nil
}

// readFileMax reads a whole file of at most max bytes.
func readFileMax(root fs.FS, name string, max int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", name, max)
	}
	return b, nil
}

// conffile is one line of a Conffiles field or a conffiles control member.
type conffile struct {
	path string
	hash string
	// flags are the words after the hash ("obsolete", "remove-on-upgrade").
	flags []string
}

func parseConffiles(v string) []conffile {
	var out []conffile
	for _, l := range strings.Split(v, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasPrefix(f[0], "/") {
			continue
		}
		out = append(out, conffile{path: f[0], hash: f[1], flags: f[2:]})
	}
	return out
}

// parseConffilesMember reads a conffiles control member: one path a line,
// possibly preceded by flags ("remove-on-upgrade /etc/foo").
func parseConffilesMember(b []byte) (paths []string, removeOnUpgrade map[string]bool) {
	removeOnUpgrade = map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		p := f[len(f)-1]
		if len(f) > 1 && f[0] == "remove-on-upgrade" {
			removeOnUpgrade[p] = true
			continue
		}
		paths = append(paths, p)
	}
	return paths, removeOnUpgrade
}

// controlMember is one file of a package's control.tar.
type controlMember struct {
	name string
	mode int64
	data []byte
}

// unpacked is what WriteLayer learnt from one new package.
type unpacked struct {
	up       Upgrade
	old      *dbEntry
	control  stanza
	members  []controlMember
	list     []string // dpkg's .list lines, "/." first
	infoName string
	// conffiles in the order of the conffiles member, with their new hashes.
	conffiles []conffile
	md5sums   []byte
}

// layerWriter accumulates the layer's entries so none is written twice.
type layerWriter struct {
	tw      *tar.Writer
	written map[string]bool
	report  *LayerReport
}

func (lw *layerWriter) write(hdr *tar.Header, body io.Reader) error {
	if lw.written[hdr.Name] {
		return nil
	}
	lw.written[hdr.Name] = true
	name := hdr.Name
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing layer entry %s: %w", name, err)
	}
	lw.report.Entries++
	if body != nil && hdr.Typeflag == tar.TypeReg {
		n, err := io.Copy(lw.tw, body)
		lw.report.Bytes += n
		if err != nil {
			return fmt.Errorf("writing layer entry %s: %w", name, err)
		}
	}
	return nil
}

// dpkgRun holds the state of one WriteLayer call.
type dpkgRun struct {
	p        LayerParams
	db       *dpkgDB
	res      *resolver
	lw       *layerWriter
	users    map[string]int
	groups   map[string]int
	diverted map[string]diversion
	override map[string]statOverride
	newest   time.Time
	// others maps each resolved path to the info names of the installed
	// packages, not being upgraded, that list it.
	others map[string][]string
	// takenOver holds, per info name of such a package, the resolved paths
	// an upgraded package that Replaces it now ships; dpkg drops them from
	// its list.
	takenOver map[string]map[string]bool
	// listed holds the resolved paths any installed package lists, the
	// upgraded ones too: what dpkg knows to be on disk.
	listed map[string]bool
}

type diversion struct{ to, pkg string }

type statOverride struct {
	uid, gid int
	mode     int64
}

// WriteLayer unpacks each upgrade's package into tw, then writes the
// updated database and the whiteouts.
func (d *Dpkg) WriteLayer(ctx context.Context, tw *tar.Writer, p LayerParams) (*LayerReport, error) {
	db, err := readDpkgDB(p.Root)
	if err != nil {
		return nil, err
	}
	res, err := newResolver(p.Root)
	if err != nil {
		return nil, err
	}
	ups := append([]Upgrade(nil), p.Upgrades...)
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Name != ups[j].Name {
			return ups[i].Name < ups[j].Name
		}
		return ups[i].Arch < ups[j].Arch
	})
	for i := 1; i < len(ups); i++ {
		if ups[i].Name == ups[i-1].Name && ups[i].Arch == ups[i-1].Arch {
			return nil, fmt.Errorf("package %s:%s upgraded twice", ups[i].Name, ups[i].Arch)
		}
	}
	report := &LayerReport{Upgrades: ups}
	r := &dpkgRun{
		p: p, db: db, res: res,
		lw: &layerWriter{tw: tw, written: map[string]bool{}, report: report},
	}
	if err := r.readSystem(); err != nil {
		return nil, err
	}
	if err := r.readOwners(ups); err != nil {
		return nil, err
	}
	var done []*unpacked
	for _, u := range ups {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		up, err := r.unpack(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("unpacking %s %s: %w", u.Name, u.NewVersion, err)
		}
		done = append(done, up)
		var scripts []string
		for _, m := range up.members {
			if maintainerScripts[m.name] {
				scripts = append(scripts, m.name)
			}
		}
		if len(scripts) > 0 {
			report.ScriptsNotRun = append(report.ScriptsNotRun, ScriptsNotRun{Package: u.Name, Scripts: scripts})
		}
	}
	stamp := p.Time
	if stamp.IsZero() {
		stamp = r.newest
	}
	if err := r.writeDatabase(done, stamp); err != nil {
		return nil, err
	}
	if err := r.writeWhiteouts(ctx, done, stamp); err != nil {
		return nil, err
	}
	return report, nil
}

// readSystem reads the image's users, groups, diversions and stat
// overrides; each is optional.
func (r *dpkgRun) readSystem() error {
	var err error
	if r.users, err = readIDs(r.p.Root, "etc/passwd"); err != nil {
		return err
	}
	if r.groups, err = readIDs(r.p.Root, "etc/group"); err != nil {
		return err
	}
	r.diverted = map[string]diversion{}
	if b, err := readFileMax(r.p.Root, dpkgDiversions, maxDBFile); err == nil {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		for i := 0; i+2 < len(lines); i += 3 {
			r.diverted[strings.TrimPrefix(lines[i], "/")] = diversion{to: strings.TrimPrefix(lines[i+1], "/"), pkg: lines[i+2]}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	r.override = map[string]statOverride{}
	if b, err := readFileMax(r.p.Root, dpkgStatOverrid, maxDBFile); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) != 4 {
				continue
			}
			so := statOverride{uid: lookupID(r.users, f[0]), gid: lookupID(r.groups, f[1])}
			m, perr := strconv.ParseInt(f[2], 8, 64)
			if perr != nil || so.uid < 0 || so.gid < 0 {
				return fmt.Errorf("parsing %s line %q: bad owner or mode", dpkgStatOverrid, l)
			}
			so.mode = m
			r.override[strings.TrimPrefix(f[3], "/")] = so
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// readIDs maps the names of a passwd or group file to their ids.
func readIDs(root fs.FS, name string) (map[string]int, error) {
	ids := map[string]int{}
	b, err := readFileMax(root, name, maxDBFile)
	if errors.Is(err, fs.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			ids[f[0]] = id
		}
	}
	return ids, nil
}

// lookupID resolves "#123" or a name, -1 when unknown.
func lookupID(ids map[string]int, s string) int {
	if strings.HasPrefix(s, "#") {
		if n, err := strconv.Atoi(s[1:]); err == nil {
			return n
		}
		return -1
	}
	if n, ok := ids[s]; ok {
		return n
	}
	return -1
}

// readOwners reads the file lists of the installed packages that the patch
// does not upgrade.
func (r *dpkgRun) readOwners(ups []Upgrade) error {
	r.others = map[string][]string{}
	r.takenOver = map[string]map[string]bool{}
	if r.db.distroless {
		return nil
	}
	r.listed = map[string]bool{}
	upgraded := map[*dbEntry]bool{}
	for _, u := range ups {
		if e := r.db.find(u.Name, u.Arch); e != nil {
			upgraded[e] = true
		}
	}
	for _, e := range r.db.entries {
		if !e.installed() {
			continue
		}
		in := infoName(e.name(), e.arch(), e.stanza.get("Multi-Arch"))
		lines, err := r.readList(in)
		if err != nil {
			return err
		}
		for _, l := range lines {
			p, err := r.res.parent(strings.TrimPrefix(l, "/"))
			if err != nil {
				return err
			}
			r.listed[p] = true
			if !upgraded[e] {
				r.others[p] = append(r.others[p], in)
			}
		}
	}
	return nil
}

// claim checks that a non-directory the package ships at dest belongs to
// no other installed package, or that the package Replaces it; then, as
// dpkg does, the path leaves the other package's list.
func (r *dpkgRun) claim(up *unpacked, name, dest string) error {
	for _, owner := range r.others[dest] {
		ownerName, _, _ := strings.Cut(owner, ":")
		if ownerName == up.up.Name {
			continue
		}
		if !replaces(up.control, ownerName) {
			return fmt.Errorf("/%s is also in installed package %s, which %s does not replace", name, ownerName, up.up.Name)
		}
		if r.takenOver[owner] == nil {
			r.takenOver[owner] = map[string]bool{}
		}
		r.takenOver[owner][dest] = true
	}
	return nil
}

// replaces says whether the control file's Replaces names pkg.
func replaces(control stanza, pkg string) bool {
	rels, err := distrorepo.ParseRelations(control.get("Replaces"))
	if err != nil {
		return false
	}
	for _, g := range rels {
		for _, r := range g {
			if r.Name == pkg {
				return true
			}
		}
	}
	return false
}

// unpack streams one package's files into the layer.
func (r *dpkgRun) unpack(ctx context.Context, u Upgrade) (*unpacked, error) {
	rc, err := r.p.Debs.OpenDeb(ctx, u.Name, u.NewVersion, u.Arch)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	up := &unpacked{up: u, old: r.db.find(u.Name, u.Arch)}
	if u.OldVersion != "" && up.old == nil {
		return nil, fmt.Errorf("installed %s:%s %s not in the dpkg database", u.Name, u.Arch, u.OldVersion)
	}
	if up.old != nil && u.OldVersion != "" && up.old.stanza.get("Version") != u.OldVersion {
		return nil, fmt.Errorf("installed version is %s, not %s", up.old.stanza.get("Version"), u.OldVersion)
	}
	dr := deb.NewReader(rc)
	sawData := false
	for {
		sec, tr, err := dr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch sec {
		case deb.Control:
			if err := up.readControl(tr); err != nil {
				return nil, err
			}
		case deb.Data:
			if up.control == nil {
				return nil, fmt.Errorf("data.tar before control.tar: %w", deb.ErrNotDeb)
			}
			if err := r.unpackData(ctx, up, tr); err != nil {
				return nil, err
			}
			sawData = true
		}
	}
	if !sawData {
		return nil, fmt.Errorf("no data.tar: %w", deb.ErrNotDeb)
	}
	return up, nil
}

// readControl keeps the control.tar members in memory (they are small and
// bounded) and checks the package is the one asked for.
func (up *unpacked) readControl(tr *tar.Reader) error {
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading control.tar: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := deb.CleanName(hdr.Name)
		if strings.Contains(name, "/") {
			continue
		}
		if hdr.Size > maxControlMember || total+hdr.Size > maxControlTotal {
			return fmt.Errorf("control member %s too large (%d bytes)", name, hdr.Size)
		}
		total += hdr.Size
		b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return fmt.Errorf("reading control member %s: %w", name, err)
		}
		up.members = append(up.members, controlMember{name: name, mode: hdr.Mode & 0o7777, data: b})
	}
	sort.Slice(up.members, func(i, j int) bool { return up.members[i].name < up.members[j].name })
	var ctl []byte
	for _, m := range up.members {
		switch m.name {
		case "control":
			ctl = m.data
		case "md5sums":
			up.md5sums = m.data
		}
	}
	if ctl == nil {
		return fmt.Errorf("no control file in control.tar: %w", deb.ErrNotDeb)
	}
	sts, err := parseStanzas(bytes.NewReader(ctl))
	if err != nil || len(sts) != 1 {
		return fmt.Errorf("parsing control file: %v: %w", err, deb.ErrNotDeb)
	}
	up.control = sts[0]
	got := [3]string{up.control.get("Package"), up.control.get("Version"), up.control.get("Architecture")}
	want := [3]string{up.up.Name, up.up.NewVersion, up.up.Arch}
	if got != want {
		return fmt.Errorf("package file is %s %s %s, want %s %s %s", got[0], got[1], got[2], want[0], want[1], want[2])
	}
	up.infoName = infoName(up.up.Name, up.up.Arch, up.control.get("Multi-Arch"))
	return nil
}

// unpackData copies data.tar into the layer as dpkg would unpack it.
func (r *dpkgRun) unpackData(ctx context.Context, up *unpacked, tr *tar.Reader) error {
	newConf := map[string]bool{}
	removeOnUpgrade := map[string]bool{}
	var confOrder []string
	for _, m := range up.members {
		if m.name == "conffiles" {
			confOrder, removeOnUpgrade = parseConffilesMember(m.data)
		}
	}
	for _, c := range confOrder {
		newConf[strings.TrimPrefix(c, "/")] = true
	}
	oldConf := map[string]conffile{}
	if up.old != nil {
		for _, c := range parseConffiles(up.old.stanza.get("Conffiles")) {
			oldConf[strings.TrimPrefix(c.path, "/")] = c
		}
	}
	// A status.d database without Conffiles (distroless) does not say what
	// the old configuration files were: they are taken as unmodified.
	unknownOld := r.db.distroless && up.old != nil && len(oldConf) == 0
	newHash := map[string]string{}
	fileHash := map[string]string{}
	var sums bytes.Buffer
	up.list = append(up.list, "/.")
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading data.tar: %w", err)
		}
		name := deb.CleanName(hdr.Name)
		if name == "." {
			continue
		}
		if len(up.list) >= maxEntries {
			return fmt.Errorf("data.tar has more than %d entries", maxEntries)
		}
		up.list = append(up.list, "/"+name)
		if hdr.ModTime.After(r.newest) {
			r.newest = hdr.ModTime.Truncate(time.Second)
		}
		target := name
		if dv, ok := r.diverted[name]; ok && dv.pkg != up.up.Name {
			target = dv.to
		}
		out, err := r.header(hdr, target)
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			full, err := r.res.full(target)
			if err != nil {
				return err
			}
			// dpkg leaves existing directories as they are. A partial root
			// may not show a directory: one that an installed package lists
			// is taken to be there.
			if r.res.isDir(full) || (!r.p.RootComplete && r.listed[full]) {
				continue
			}
			out.Name = full
			r.res.created[full] = true
			if err := r.lw.write(out, nil); err != nil {
				return err
			}
			continue
		}
		if r.res.isDir(out.Name) {
			// dpkg never replaces a directory: a symlink in its place is
			// left unpacked (packages switch with dpkg-maintscript-helper
			// dir_to_symlink, in scripts), anything else is an error.
			if hdr.Typeflag == tar.TypeSymlink {
				continue
			}
			return fmt.Errorf("/%s is a directory in the image, not a %q entry", name, hdr.Typeflag)
		}
		if err := r.claim(up, name, out.Name); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && newConf[name] {
			h, err := r.conffile(out, name, tr, oldConf, unknownOld)
			if err != nil {
				return err
			}
			newHash[name] = h
			fileHash[name] = h
			fmt.Fprintf(&sums, "%s  %s\n", h, name)
			continue
		}
		var body io.Reader = tr
		sum := md5.New()
		if hdr.Typeflag == tar.TypeReg && up.md5sums == nil {
			body = io.TeeReader(tr, sum)
		}
		if err := r.lw.write(out, body); err != nil {
			return err
		}
		// dpkg writes md5sums for packages that lack them: every regular
		// file and hard link, in archive order.
		if up.md5sums == nil {
			switch hdr.Typeflag {
			case tar.TypeReg:
				fileHash[name] = hex.EncodeToString(sum.Sum(nil))
				fmt.Fprintf(&sums, "%s  %s\n", fileHash[name], name)
			case tar.TypeLink:
				fmt.Fprintf(&sums, "%s  %s\n", fileHash[deb.CleanName(hdr.Linkname)], name)
			}
		}
	}
	if up.md5sums == nil && sums.Len() > 0 {
		up.md5sums = sums.Bytes()
	}
	for _, c := range confOrder {
		n := strings.TrimPrefix(c, "/")
		h, ok := newHash[n]
		if !ok {
			if removeOnUpgrade[c] {
				continue
			}
			return fmt.Errorf("conffile %s is not a regular file in data.tar", c)
		}
		up.conffiles = append(up.conffiles, conffile{path: c, hash: h})
	}
	// Conffiles the new version no longer ships stay on disk, marked
	// obsolete, as dpkg does.
	for _, c := range parseConffilesOld(up.old) {
		n := strings.TrimPrefix(c.path, "/")
		if _, ok := newHash[n]; ok || removeOnUpgrade[c.path] {
			continue
		}
		up.conffiles = append(up.conffiles, conffile{path: c.path, hash: c.hash, flags: []string{"obsolete"}})
		up.list = append(up.list, c.path)
	}
	return nil
}

func parseConffilesOld(old *dbEntry) []conffile {
	if old == nil {
		return nil
	}
	return parseConffiles(old.stanza.get("Conffiles"))
}

// header makes the layer header of a data.tar entry written at target:
// owners mapped by name through the image's passwd and group files as dpkg
// does, stat overrides applied, hard link targets resolved.
func (r *dpkgRun) header(hdr *tar.Header, target string) (*tar.Header, error) {
	dest, err := r.res.parent(target)
	if err != nil {
		return nil, err
	}
	out := &tar.Header{
		Typeflag: hdr.Typeflag,
		Name:     dest,
		Linkname: hdr.Linkname,
		Size:     hdr.Size,
		Mode:     hdr.Mode & 0o7777,
		Uid:      hdr.Uid,
		Gid:      hdr.Gid,
		ModTime:  hdr.ModTime.Truncate(time.Second),
		Devmajor: hdr.Devmajor,
		Devminor: hdr.Devminor,
		Format:   tar.FormatPAX,
	}
	if hdr.Uname != "" {
		if id, ok := r.users[hdr.Uname]; ok {
			out.Uid = id
		}
	}
	if hdr.Gname != "" {
		if id, ok := r.groups[hdr.Gname]; ok {
			out.Gid = id
		}
	}
	if so, ok := r.override[target]; ok {
		out.Uid, out.Gid, out.Mode = so.uid, so.gid, so.mode&0o7777
	}
	for k, v := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if out.PAXRecords == nil {
				out.PAXRecords = map[string]string{}
			}
			out.PAXRecords[k] = v
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeLink:
		lt := deb.CleanName(hdr.Linkname)
		if dv, ok := r.diverted[lt]; ok {
			lt = dv.to
		}
		if out.Linkname, err = r.res.parent(lt); err != nil {
			return nil, err
		}
		if !r.lw.written[out.Linkname] {
			return nil, fmt.Errorf("hard link %s to %s, which the layer does not hold", hdr.Name, hdr.Linkname)
		}
		out.Size = 0
	default:
		return nil, fmt.Errorf("entry %s has unsupported tar type %q", hdr.Name, hdr.Typeflag)
	}
	return out, nil
}

// conffile applies dpkg's rule to one configuration file, with
// --force-confold: the new version replaces the image's file only when the
// image's file is what the old version shipped (or is new, or equal to the
// new version); a file the user changed or deleted is kept so, and when the
// package changed it the new version is written beside it as
// <file>.dpkg-dist. It returns the md5 of the new version, which dpkg records.
func (r *dpkgRun) conffile(out *tar.Header, name string, tr io.Reader, oldConf map[string]conffile, unknownOld bool) (string, error) {
	if out.Size > maxConffile {
		return "", fmt.Errorf("conffile /%s is %d bytes, over %d", name, out.Size, maxConffile)
	}
	data, err := io.ReadAll(io.LimitReader(tr, out.Size))
	if err != nil {
		return "", fmt.Errorf("reading conffile /%s: %w", name, err)
	}
	sum := md5.Sum(data)
	newHash := hex.EncodeToString(sum[:])
	onDisk, err := readFileMax(r.p.Root, out.Name, maxConffile)
	var diskHash string
	switch {
	case err == nil:
		s := md5.Sum(onDisk)
		diskHash = hex.EncodeToString(s[:])
	case errors.Is(err, fs.ErrNotExist):
	default:
		return "", err
	}
	old, wasConf := oldConf[name]
	install := false
	if wasConf && hasFlag(old.flags, "obsolete") {
		wasConf = false
	}
	switch {
	case unknownOld && diskHash != newHash:
		install = true
	case diskHash == "" && !wasConf:
		install = true
	case diskHash == newHash:
		// Already the new version: dpkg leaves the file as it is.
	case wasConf && diskHash == old.hash:
		install = true
	case wasConf && old.hash == newHash:
		// The package did not change it: keep the user's version quietly.
	default:
		r.lw.report.ConffilesKept = append(r.lw.report.ConffilesKept, "/"+name)
		out.Name += ".dpkg-dist"
		install = true
	}
	if !install {
		return newHash, nil
	}
	return newHash, r.lw.write(out, bytes.NewReader(data))
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// writeDatabase writes status (or status.d) and each package's info files.
func (r *dpkgRun) writeDatabase(done []*unpacked, stamp time.Time) error {
	type file struct {
		name string
		mode int64
		data []byte
	}
	var files []file
	byKey := map[*dbEntry]*unpacked{}
	var added []*unpacked
	for _, up := range done {
		if up.old != nil {
			byKey[up.old] = up
		} else {
			added = append(added, up)
		}
	}
	newStanza := func(up *unpacked) stanza {
		status := "install ok installed"
		if up.old != nil {
			if f := strings.Fields(up.old.stanza.get("Status")); len(f) == 3 {
				status = f[0] + " " + f[1] + " installed"
			}
		}
		var cf strings.Builder
		for _, c := range up.conffiles {
			cf.WriteString("\n " + c.path + " " + c.hash)
			for _, fl := range c.flags {
				cf.WriteString(" " + fl)
			}
		}
		return statusStanza(up.control, status, cf.String())
	}
	if r.db.distroless {
		for _, up := range done {
			name := path.Join(dpkgStatusD, up.up.Name)
			if up.old != nil {
				name = up.old.file
			}
			var b bytes.Buffer
			newStanza(up).appendTo(&b)
			files = append(files, file{name, 0o644, b.Bytes()})
			if _, err := fs.Stat(r.p.Root, name+".md5sums"); err == nil && up.md5sums != nil {
				files = append(files, file{name + ".md5sums", 0o644, up.md5sums})
			}
		}
	} else {
		var entries []stanza
		for _, e := range r.db.entries {
			if up, ok := byKey[e]; ok {
				entries = append(entries, newStanza(up))
			} else {
				entries = append(entries, e.stanza)
			}
		}
		for _, up := range added {
			entries = append(entries, newStanza(up))
		}
		// dpkg writes its status sorted by package name, then architecture.
		sort.SliceStable(entries, func(i, j int) bool {
			a, b := entries[i], entries[j]
			if a.get("Package") != b.get("Package") {
				return a.get("Package") < b.get("Package")
			}
			return a.get("Architecture") < b.get("Architecture")
		})
		var b bytes.Buffer
		for _, s := range entries {
			s.appendTo(&b)
			b.WriteByte('\n')
		}
		files = append(files, file{dpkgStatus, 0o644, b.Bytes()})
		for _, up := range done {
			base := path.Join(dpkgInfo, up.infoName)
			list := strings.Join(up.list, "\n") + "\n"
			files = append(files, file{base + ".list", 0o644, []byte(list)})
			for _, m := range up.members {
				switch m.name {
				case "control":
					continue
				case "md5sums":
					continue // written below, generated when missing
				}
				files = append(files, file{base + "." + m.name, m.mode, m.data})
			}
			if up.md5sums != nil {
				files = append(files, file{base + ".md5sums", 0o644, up.md5sums})
			}
		}
		for owner, paths := range r.takenOver {
			lines, err := r.readList(owner)
			if err != nil {
				return err
			}
			var keep []string
			for _, l := range lines {
				p, err := r.res.parent(strings.TrimPrefix(l, "/"))
				if err != nil {
					return err
				}
				if !paths[p] {
					keep = append(keep, l)
				}
			}
			files = append(files, file{path.Join(dpkgInfo, owner+".list"), 0o644, []byte(strings.Join(keep, "\n") + "\n")})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	for _, f := range files {
		dest, err := r.res.parent(f.name)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: dest, Mode: f.mode, Size: int64(len(f.data)),
			ModTime: stamp, Format: tar.FormatPAX,
		}
		r.lw.written[dest] = false // database files replace any earlier entry
		if err := r.lw.write(hdr, bytes.NewReader(f.data)); err != nil {
			return err
		}
	}
	return nil
}

// writeWhiteouts deletes what the old versions had and the new ones do not:
// files no other package owns, directories left empty, and stale info files.
func (r *dpkgRun) writeWhiteouts(ctx context.Context, done []*unpacked, stamp time.Time) error {
	if r.db.distroless {
		return r.writeDistrolessWhiteouts(done, stamp)
	}
	// owned holds the resolved paths some package keeps after the patch.
	owned := map[string]bool{}
	for p := range r.others {
		owned[p] = true
	}
	addList := func(lines []string) error {
		for _, l := range lines {
			p, err := r.res.parent(strings.TrimPrefix(l, "/"))
			if err != nil {
				return err
			}
			owned[p] = true
		}
		return nil
	}
	for _, up := range done {
		if err := addList(up.list); err != nil {
			return err
		}
		for _, c := range up.conffiles {
			if err := addList([]string{c.path}); err != nil {
				return err
			}
		}
	}
	gone := map[string]bool{}
	var dirs []string
	var stale []string
	for _, up := range done {
		if err := ctx.Err(); err != nil {
			return err
		}
		if up.old == nil {
			continue
		}
		oldInfo := infoName(up.old.name(), up.old.arch(), up.old.stanza.get("Multi-Arch"))
		lines, err := r.readList(oldInfo)
		if err != nil {
			return err
		}
		// A listed path with listed paths below it is a directory.
		parents := map[string]bool{}
		for _, l := range lines {
			parents[path.Dir(l)] = true
		}
		for _, l := range lines {
			name := strings.TrimPrefix(l, "/")
			if name == "." {
				continue
			}
			if dv, ok := r.diverted[name]; ok && dv.pkg != up.up.Name {
				name = dv.to
			}
			p, err := r.res.parent(name)
			if err != nil {
				return err
			}
			if owned[p] || r.lw.written[p] {
				continue
			}
			if fi, err := r.res.fsys.Lstat(p); parents[l] || (err == nil && fi.IsDir()) {
				dirs = append(dirs, p)
				continue
			}
			// Deleting a path the image no longer has is harmless, and a
			// root holding selected files only cannot tell.
			gone[p] = true
		}
		// Info files of the old version that the new one does not have.
		des, err := fs.ReadDir(r.p.Root, dpkgInfo)
		if err != nil {
			return fmt.Errorf("reading %s: %w", dpkgInfo, err)
		}
		for _, de := range des {
			rest, ok := strings.CutPrefix(de.Name(), oldInfo+".")
			if !ok || strings.Contains(rest, ".") {
				continue
			}
			p := path.Join(dpkgInfo, de.Name())
			if !r.lw.written[p] {
				stale = append(stale, p)
			}
		}
	}
	// Directories go only when nothing else is left in them, deepest first,
	// and only when the root is the whole filesystem: a partial one cannot
	// say what else a directory holds.
	if !r.p.RootComplete {
		dirs = nil
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if gone[d] || r.res.created[d] {
			continue
		}
		des, err := fs.ReadDir(r.p.Root, d)
		if err != nil {
			continue // contents unknown: keep it
		}
		empty := true
		for _, de := range des {
			if !gone[path.Join(d, de.Name())] {
				empty = false
				break
			}
		}
		if empty {
			gone[d] = true
		}
	}
	for _, s := range stale {
		gone[s] = true
	}
	return r.emitWhiteouts(gone, stamp)
}

// writeDistrolessWhiteouts deletes, in a status.d database without file
// lists, the regular files the old version's md5sums name that neither
// the new version nor another package's md5sums do. Directories are kept:
// nothing says which package owns them.
func (r *dpkgRun) writeDistrolessWhiteouts(done []*unpacked, stamp time.Time) error {
	upgraded := map[string]bool{}
	for _, up := range done {
		if up.old != nil {
			upgraded[up.old.file] = true
		}
	}
	owned := map[string]bool{}
	for _, e := range r.db.entries {
		if upgraded[e.file] {
			continue
		}
		paths, err := r.md5sumPaths(e.file + ".md5sums")
		if err != nil {
			return err
		}
		for _, p := range paths {
			owned[p] = true
		}
	}
	for _, up := range done {
		for _, l := range up.list {
			p, err := r.res.parent(strings.TrimPrefix(l, "/"))
			if err != nil {
				return err
			}
			owned[p] = true
		}
	}
	gone := map[string]bool{}
	for _, up := range done {
		if up.old == nil {
			continue
		}
		paths, err := r.md5sumPaths(up.old.file + ".md5sums")
		if err != nil {
			return err
		}
		for _, p := range paths {
			if owned[p] || r.lw.written[p] {
				continue
			}
			if _, err := r.res.fsys.Lstat(p); err == nil {
				gone[p] = true
			}
		}
	}
	return r.emitWhiteouts(gone, stamp)
}

// md5sumPaths returns the resolved paths an md5sums file names; a missing
// file names none.
func (r *dpkgRun) md5sumPaths(name string) ([]string, error) {
	b, err := readFileMax(r.p.Root, name, maxDBFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		_, p, ok := strings.Cut(l, "  ")
		if !ok {
			continue
		}
		rp, err := r.res.parent(strings.TrimPrefix(p, "/"))
		if err != nil {
			return nil, err
		}
		out = append(out, rp)
	}
	return out, nil
}

// emitWhiteouts writes a whiteout for each path, skipping those under a
// deleted directory.
func (r *dpkgRun) emitWhiteouts(gone map[string]bool, stamp time.Time) error {
	var all []string
	for p := range gone {
		// A path under a deleted directory goes with it.
		if gone[path.Dir(p)] && path.Dir(p) != "." {
			continue
		}
		all = append(all, p)
	}
	sort.Strings(all)
	for _, p := range all {
		r.lw.report.Whiteouts = append(r.lw.report.Whiteouts, "/"+p)
		wh := path.Join(path.Dir(p), ".wh."+path.Base(p))
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: wh, Mode: 0o644, ModTime: stamp, Format: tar.FormatPAX}
		if err := r.lw.write(hdr, nil); err != nil {
			return err
		}
	}
	return nil
}

// readList reads info/<name>.list; a missing list is empty.
func (r *dpkgRun) readList(info string) ([]string, error) {
	p := path.Join(dpkgInfo, info+".list")
	f, err := r.p.Root.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(f, maxDBFile))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return out, nil
}
