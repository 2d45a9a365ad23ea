package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
)

// checkFiles refuses file paths that are not absolute and clean, and a path given twice.
func checkFiles(files []hashike.File) error {
	seen := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return hashike.Errorf(hashike.EInvalid, "file path %q must be absolute and clean, and name a file", f.Path)
		}
		if seen[f.Path] {
			return hashike.Errorf(hashike.EInvalid, "file %s is given twice", f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// extractDir is the directory of c that the engine extracts file into: the root, or, when
// the root file system is read-only (the engine refuses to write there), the deepest
// writable mount point holding the file. ok is false when there is none.
func extractDir(c *hashike.ContainerDefinition, file string) (dir string, ok bool) {
	if c.ReadonlyRootFilesystem == nil || !*c.ReadonlyRootFilesystem {
		return "/", true
	}
	for _, mp := range c.MountPoints {
		d := path.Clean(mp.ContainerPath)
		if !mp.ReadOnly && strings.HasPrefix(file, strings.TrimSuffix(d, "/")+"/") && len(d) > len(dir) {
			dir, ok = d, true
		}
	}
	return dir, ok
}

// unwritable returns a file that the engine cannot put into c, or "".
func unwritable(c *hashike.ContainerDefinition, files []hashike.File) string {
	for _, f := range files {
		if _, ok := extractDir(c, f.Path); !ok {
			return f.Path
		}
	}
	return ""
}

// archive packs files into a tar archive to extract at dir: regular files of mode 0644
// owned by root. It holds no directory entries: the engine creates missing parents (0755,
// root), and an entry for one that exists, such as /tmp, would reset its mode and owner.
func archive(dir string, files []hashike.File, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Directories first: a file may be in one.
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b hashike.File) int {
		switch {
		case a.Dir == b.Dir:
			return 0
		case a.Dir:
			return -1
		default:
			return 1
		}
	})
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(strings.TrimPrefix(f.Path, dir), "/"),
			Mode:     0o644,
			Size:     int64(len(f.Data)),
			ModTime:  now,
			Format:   tar.FormatPAX, // any path length, any size
		}
		if f.Dir {
			// Every user may write in it (sticky, as /tmp): the container's user is
			// whatever its image says.
			hdr.Typeflag, hdr.Name, hdr.Mode, hdr.Size = tar.TypeDir, hdr.Name+"/", 0o1777, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archive file %s: %w", f.Path, err)
		}
		if f.Dir {
			continue
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("archive file %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("archive files: %w", err)
	}
	return buf.Bytes(), nil
}

// copyFiles puts files into c's created container id: one archive per directory they are
// extracted at. unwritable must have been checked.
func (b *Backend) copyFiles(ctx context.Context, c *hashike.ContainerDefinition, id string, files []hashike.File) error {
	byDir := map[string][]hashike.File{}
	var dirs []string
	for _, f := range files {
		dir, _ := extractDir(c, f.Path)
		if byDir[dir] == nil {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], f)
	}
	for _, dir := range dirs {
		tarball, err := archive(dir, byDir[dir], b.clock.Now())
		if err != nil {
			return err
		}
		_, err = b.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: bytes.NewReader(tarball)})
		switch {
		case err == nil:
			continue
		case client.IsErrConnectionFailed(err):
			return b.unavailable(err)
		case cerrdefs.IsInvalidArgument(err) || cerrdefs.IsPermissionDenied(err) || cerrdefs.IsConflict(err):
			// A file where the image has a directory, say: the task cannot start.
			return &hashike.StartError{Reason: fmt.Sprintf("CannotCreateContainerError: %s: cannot put the run's files in: %v", c.Name, err)}
		}
		return fmt.Errorf("copy files into container %s: %w", c.Name, err)
	}
	return nil
}

// refill puts the files into the run's containers that have not started yet.
func (b *Backend) refill(ctx context.Context, runID string, td *hashike.TaskDefinition, files []hashike.File) error {
	if len(files) == 0 {
		return nil
	}
	list, err := b.list(ctx, runID)
	if err != nil {
		return err
	}
	for _, s := range list {
		if s.State != container.StateCreated {
			continue
		}
		for i := range td.ContainerDefinitions {
			c := &td.ContainerDefinitions[i]
			if c.Name != s.Labels[LabelContainer] {
				continue
			}
			if err := b.copyFiles(ctx, c, s.ID, files); err != nil && !cerrdefs.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

var _ hashike.TaskFiles = (*Backend)(nil)

// ReadFile reads path out of the first of the task's containers that has it as a regular
// file (see hashike.TaskFiles). The engine sends it as a tar archive of one entry.
func (b *Backend) ReadFile(ctx context.Context, ref hashike.TaskRef, file string, limit int64) ([]byte, string, error) {
	for _, c := range ref.Containers {
		res, err := b.api.CopyFromContainer(ctx, c.ID, client.CopyFromContainerOptions{SourcePath: file})
		switch {
		case err == nil:
		case cerrdefs.IsNotFound(err):
			continue // no such file here, or the container is gone
		case client.IsErrConnectionFailed(err):
			return nil, "", b.unavailable(err)
		default:
			return nil, "", fmt.Errorf("read %s from container %s: %w", file, c.Name, err)
		}
		data, err := func() ([]byte, error) {
			defer res.Content.Close()
			if !res.Stat.Mode.IsRegular() {
				return nil, nil
			}
			if res.Stat.Size > limit {
				return nil, hashike.Errorf(hashike.ETooLarge, "%s in container %s has %d bytes, over the limit of %d", file, c.Name, res.Stat.Size, limit)
			}
			tr := tar.NewReader(res.Content)
			hdr, err := tr.Next()
			if err != nil {
				return nil, fmt.Errorf("read %s from container %s: %w", file, c.Name, err)
			}
			if hdr.Size > limit {
				return nil, hashike.Errorf(hashike.ETooLarge, "%s in container %s has %d bytes, over the limit of %d", file, c.Name, hdr.Size, limit)
			}
			data, err := io.ReadAll(io.LimitReader(tr, limit+1))
			if err != nil {
				return nil, fmt.Errorf("read %s from container %s: %w", file, c.Name, err)
			}
			return data, nil
		}()
		if err != nil {
			return nil, "", err
		}
		if data != nil || res.Stat.Mode.IsRegular() {
			if data == nil {
				data = []byte{}
			}
			return data, c.Name, nil
		}
	}
	return nil, "", hashike.Errorf(hashike.ENotFound, "no container of task %s has %s", ref.ID, file)
}
