package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func hasCode(terr *transport.Error, code transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Catalog lists every repository in the registry, following all pages of
// /v2/_catalog.
func (c *Client) Catalog(ctx context.Context) ([]string, error) {
	cat, err := c.puller.Catalogger(ctx, c.reg)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusBadRequest && hasCode(terr, "PAGINATION_NUMBER_INVALID") {
		// The registry caps pages below our n: let it choose the size.
		var p *remote.Puller
		if p, err = remote.NewPuller(append(c.ropts, remote.WithPageSize(0))...); err == nil {
			cat, err = p.Catalogger(ctx, c.reg)
		}
	}
	if err != nil {
		return nil, c.wrap(err, "", "listing the catalog")
	}
	var repos []string
	for cat.HasNext() {
		page, err := cat.Next(ctx)
		if err != nil {
			return nil, c.wrap(err, "", "listing the catalog")
		}
		repos = append(repos, page.Repos...)
		if len(repos) > MaxListEntries {
			return nil, c.wrap(fmt.Errorf("over %d repositories: %w", MaxListEntries, ErrTooLarge), "", "listing the catalog")
		}
	}
	return repos, nil
}

// Tags lists every tag of repo, following all pages. A repository that does
// not exist gives an error wrapping ErrNotFound.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := c.Repository(repo)
	if err != nil {
		return nil, err
	}
	l, err := c.puller.Lister(ctx, r)
	if err != nil {
		return nil, c.wrap(err, repo, "listing tags")
	}
	tags := []string{}
	for l.HasNext() {
		page, err := l.Next(ctx)
		if err != nil {
			return nil, c.wrap(err, repo, "listing tags")
		}
		tags = append(tags, page.Tags...)
		if len(tags) > MaxListEntries {
			return nil, c.wrap(fmt.Errorf("over %d tags: %w", MaxListEntries, ErrTooLarge), repo, "listing tags")
		}
	}
	return tags, nil
}

// Inventory lists the tags of each repository in repos, at most the
// client's jobs at once. A repository that does not exist is left out of
// the map; any other failure stops the listing and is returned.
func (c *Client) Inventory(ctx context.Context, repos []string) (map[string][]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		inv      = make(map[string][]string, len(repos))
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, c.jobs)
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	seen := map[string]bool{}
	for _, repo := range repos {
		if seen[repo] {
			continue
		}
		seen[repo] = true
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tags, err := c.Tags(ctx, repo)
			switch {
			case errors.Is(err, ErrNotFound):
				return
			case err != nil:
				fail(err)
				return
			}
			sort.Strings(tags)
			mu.Lock()
			inv[repo] = tags
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return inv, nil
}
