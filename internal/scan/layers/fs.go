package layers

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNotKept is returned (inside an *fs.PathError) when opening a regular
// file whose content Flatten did not keep.
var ErrNotKept = errors.New("file content not kept")

// maxSymlinks bounds how many symbolic links one lookup follows.
const maxSymlinks = 40

// node is one entry of the image tree.
type node struct {
	name     string
	mode     fs.FileMode
	size     int64
	modTime  time.Time
	link     string // symlink target, as written in the layer
	layer    int    // index of the layer that last wrote this entry
	kept     bool   // content is in the spill directory
	children map[string]*node
}

// FS is the final filesystem of a flattened image. Paths are slash-separated
// and relative ("etc/os-release"), as io/fs requires; symbolic links are
// followed by Open and Stat and reported as links by ReadDir. It is safe for
// concurrent reads.
type FS struct {
	root  *node
	spill string
}

func newFS(spill string) *FS {
	return &FS{root: &node{mode: fs.ModeDir | 0o755, children: map[string]*node{}}, spill: spill}
}

func (f *FS) close() error { return os.RemoveAll(f.spill) }

// spillPath is where the content of image path p is kept.
func (f *FS) spillPath(p string) string {
	return filepath.Join(f.spill, "root", filepath.FromSlash(p))
}

// lookup returns the node at p without following symlinks, or nil.
func (f *FS) lookup(p string) *node {
	n := f.root
	if p == "" || p == "." {
		return n
	}
	for _, part := range strings.Split(p, "/") {
		if n.children == nil {
			return nil
		}
		if n = n.children[part]; n == nil {
			return nil
		}
	}
	return n
}

// dir returns the directory node at p, creating missing directories (and
// replacing non-directories in the way) as written by layer idx.
func (f *FS) dir(p string, idx int) *node {
	n := f.root
	if p == "" {
		return n
	}
	sofar := ""
	for _, part := range strings.Split(p, "/") {
		sofar = path.Join(sofar, part)
		c := n.children[part]
		if c != nil && c.mode&fs.ModeSymlink != 0 {
			// A layer writing through a symlinked directory (lib -> usr/lib)
			// writes into its target, as extracting the tar would.
			if t, _, err := f.resolve("mkdir", sofar, true); err == nil && t.mode.IsDir() {
				n = t
				continue
			}
		}
		if c == nil || !c.mode.IsDir() {
			if c != nil {
				f.drop(sofar, c)
			}
			c = &node{name: part, mode: fs.ModeDir | 0o755, layer: idx, children: map[string]*node{}}
			n.children[part] = c
		}
		n = c
	}
	return n
}

// canonical rewrites p so that its directory part holds no symlinks, when
// that directory exists: a layer writing "lib/x" where lib -> usr/lib writes
// "usr/lib/x". The last element is kept as is.
func (f *FS) canonical(p string) string {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return p
	}
	n, real, err := f.resolve("lstat", dir, true)
	if err != nil || !n.mode.IsDir() {
		return p
	}
	return path.Join(real, base)
}

// putDir records directory p from layer idx, keeping what it already holds.
func (f *FS) putDir(p string, info fs.FileInfo, idx int) {
	d := f.dir(p, idx)
	d.mode = fs.ModeDir | info.Mode().Perm()
	d.modTime = info.ModTime()
	d.layer = idx
}

// put records the non-directory n at p from layer idx, replacing whatever
// was there (and freeing its kept content).
func (f *FS) put(p string, n *node, idx int) {
	dir, base := path.Split(p)
	parent := f.dir(strings.TrimSuffix(dir, "/"), idx)
	if old := parent.children[base]; old != nil {
		f.drop(p, old)
	}
	n.name = base
	n.layer = idx
	parent.children[base] = n
}

// remove deletes p and everything under it (a whiteout).
func (f *FS) remove(p string) {
	dir, base := path.Split(p)
	parent := f.lookup(strings.TrimSuffix(dir, "/"))
	if parent == nil || parent.children == nil {
		return
	}
	if old := parent.children[base]; old != nil {
		f.drop(p, old)
		delete(parent.children, base)
	}
}

// opaque hides everything lower layers put under directory p, keeping what
// layer idx itself wrote there.
func (f *FS) opaque(p string, idx int) {
	d := f.dir(p, idx)
	f.hideLower(p, d, idx)
}

func (f *FS) hideLower(p string, d *node, idx int) {
	for name, c := range d.children {
		cp := path.Join(p, name)
		switch {
		case c.layer < idx:
			f.drop(cp, c)
			delete(d.children, name)
		case c.mode.IsDir():
			f.hideLower(cp, c, idx)
		}
	}
}

// drop frees the kept content of n (at p) and of everything under it.
func (f *FS) drop(p string, n *node) {
	if n.kept {
		_ = os.Remove(f.spillPath(p))
	}
	for name, c := range n.children {
		f.drop(path.Join(p, name), c)
	}
}

// resolve follows symlinks in every element of p and returns the final node
// and its real path. With follow false the last element is not followed.
func (f *FS) resolve(op, p string, follow bool) (*node, string, error) {
	if !fs.ValidPath(p) {
		return nil, "", &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	hops := 0
	var walk func(rest string) (*node, string, error)
	walk = func(rest string) (*node, string, error) {
		n, real := f.root, ""
		parts := strings.Split(rest, "/")
		if rest == "." || rest == "" {
			parts = nil
		}
		for i, part := range parts {
			if n.children == nil {
				return nil, "", &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
			}
			c := n.children[part]
			if c == nil {
				return nil, "", &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
			}
			last := i == len(parts)-1
			if c.mode&fs.ModeSymlink != 0 && (!last || follow) {
				if hops++; hops > maxSymlinks {
					return nil, "", &fs.PathError{Op: op, Path: p, Err: errors.New("too many levels of symbolic links")}
				}
				target := c.link
				if !strings.HasPrefix(target, "/") {
					target = path.Join(real, target)
				}
				target = cleanPath(path.Join(target, strings.Join(parts[i+1:], "/")))
				return walk(target)
			}
			n, real = c, path.Join(real, part)
		}
		return n, real, nil
	}
	return walk(p)
}

// Open opens the file or directory at name. Regular files whose content was
// not kept fail with ErrNotKept.
func (f *FS) Open(name string) (fs.File, error) {
	n, real, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode.IsDir() {
		return &dirFile{fs: f, n: n, path: real}, nil
	}
	if !n.mode.IsRegular() || !n.kept {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotKept}
	}
	file, err := os.Open(f.spillPath(real))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &regFile{File: file, info: fileInfo{n}}, nil
}

// Stat returns the metadata of name, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	n, _, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return fileInfo{n}, nil
}

// Lstat returns the metadata of name without following a final symlink.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	n, _, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return fileInfo{n}, nil
}

// ReadDir lists the directory name sorted by file name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, _, err := f.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return entries(n), nil
}

// Kept reports whether the content of the regular file at name (symlinks
// followed) was kept.
func (f *FS) Kept(name string) bool {
	n, _, err := f.resolve("stat", name, true)
	return err == nil && n.kept
}

func entries(n *node) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, fs.FileInfoToDirEntry(fileInfo{c}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// fileInfo is the fs.FileInfo of a node.
type fileInfo struct{ n *node }

func (i fileInfo) Name() string {
	if i.n.name == "" {
		return "."
	}
	return i.n.name
}
func (i fileInfo) Size() int64        { return i.n.size }
func (i fileInfo) Mode() fs.FileMode  { return i.n.mode }
func (i fileInfo) ModTime() time.Time { return i.n.modTime }
func (i fileInfo) IsDir() bool        { return i.n.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// regFile is an opened kept file reporting the image's metadata.
type regFile struct {
	*os.File
	info fileInfo
}

func (r *regFile) Stat() (fs.FileInfo, error) { return r.info, nil }

// dirFile is an opened directory.
type dirFile struct {
	fs   *FS
	n    *node
	path string
	list []fs.DirEntry
	read bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return fileInfo{d.n}, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.read {
		d.list, d.read = entries(d.n), true
	}
	if count <= 0 {
		out := d.list
		d.list = nil
		return out, nil
	}
	if len(d.list) == 0 {
		return nil, io.EOF
	}
	count = min(count, len(d.list))
	out := d.list[:count]
	d.list = d.list[count:]
	return out, nil
}
