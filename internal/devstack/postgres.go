package devstack

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/internal/proc"
)

// postgresBinDir finds the PostgreSQL server binaries: PG_BINDIR, else the
// newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else PATH.
func postgresBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for k := len(dirs) - 1; k >= 0; k-- {
		if _, err := os.Stat(filepath.Join(dirs[k], "initdb")); err == nil {
			return dirs[k], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found (PG_BINDIR, /usr/lib/postgresql/*/bin, PATH): install PostgreSQL (apt-get install postgresql) or set DATABASE_URL")
}

// postgresCredential returns the user to run initdb and postgres as: they
// refuse to run as root, so root runs them as "postgres".
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the user postgres, which does not exist: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startPostgres runs a PostgreSQL cluster kept in dir (created with initdb
// on first use) on addr (host:port) and
// returns its URL.
func startPostgres(ctx context.Context, dir, logDir, addr string) (*proc.Process, string, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, "", err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	if cred != nil {
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, "", err
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("initdb %s: %w\n%s", data, err, out)
		}
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := proc.Start(proc.Spec{
		Log: filepath.Join(logDir, "postgres.log"), Path: filepath.Join(bin, "postgres"),
		Args:       []string{"-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1"},
		Credential: cred, StopSignal: syscall.SIGINT,
	})
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			c.Close(ctx)
			return p, url, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop(5 * time.Second)
			return nil, "", fmt.Errorf("PostgreSQL did not start (see %s): %w", p.Log, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
