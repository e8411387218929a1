package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patchloop/patchloop/store"
	"github.com/patchloop/patchloop/store/pgstore"
	"github.com/patchloop/patchloop/store/storetest"
)

// postgresURL is the CI database (PATCHLOOP_TEST_POSTGRES, set by
// .ci/start-postgres); the tests skip without it.
func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PATCHLOOP_TEST_POSTGRES")
	if u == "" {
		t.Skip("PATCHLOOP_TEST_POSTGRES is not set (run .ci/start-postgres)")
	}
	return u
}

// freshSchema creates an empty schema for one test, dropped at cleanup,
// and returns the database URL with it as the search path.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := postgresURL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "pgstore_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	postgresURL(t)
	storetest.Run(t, func(t *testing.T, clock func() time.Time) store.Store {
		s, err := pgstore.Open(context.Background(), freshSchema(t), store.Config{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestOpenThroughStoreOpen(t *testing.T) {
	t.Parallel()
	loc := freshSchema(t)
	ctx := context.Background()
	s, err := store.Open(ctx, loc, store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*pgstore.Store); !ok {
		t.Fatalf("store.Open(%q) = %T, want *pgstore.Store", loc, s)
	}
	alt := strings.Replace(loc, "postgres://", "postgresql://", 1)
	s2, err := store.Open(ctx, alt, store.Config{})
	if err != nil {
		t.Fatalf("postgresql:// scheme: %v", err)
	}
	s2.Close()
}

func TestConcurrentOpenersMigrateOnce(t *testing.T) {
	t.Parallel()
	loc := freshSchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(ctx, loc, store.Config{})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent open: %v", err)
	}
	conn, err := pgx.Connect(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM patchloop_schema_migration").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d migration rows, want 1", n)
	}
}

func TestUnreachableIsClearErrorWithoutPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	loc := "postgres://bob:s3cretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"
	_, err := store.Open(ctx, loc, store.Config{})
	if err == nil {
		t.Fatal("opened a store on a closed port")
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cretpw") {
		t.Fatalf("error shows the password: %s", msg)
	}
	if !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "\n") {
		t.Fatalf("error %q should be one line naming the location", msg)
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unreachable database reported as not found: %v", err)
	}
}
