package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// Promote promotes the artifact source ("repository:tag" or
// "repository@digest") to destination ("repository:tag") with its index
// children and referrers, without copying blob data, and returns the
// promotion record. It needs pull on the source and push on the
// destination.
func (c *Client) Promote(ctx context.Context, source, destination string) (*wire.Promotion, error) {
	return call[wire.Promotion](ctx, c, request{method: "POST", path: "/api/v1/promotions",
		in: wire.NewPromotion{Source: source, Destination: destination}})
}

// PromotionQuery selects promotion records; empty fields select all.
type PromotionQuery struct {
	// Digest keeps the promotions of this manifest digest.
	Digest string
	// Project keeps the promotions from or into this project.
	Project string
	// After is the next cursor of the previous page ("" for the newest).
	After string
	// Limit is the page size (0: the server's default).
	Limit int
}

func (q PromotionQuery) values() url.Values {
	v := url.Values{}
	if q.Digest != "" {
		v.Set("digest", q.Digest)
	}
	if q.Project != "" {
		v.Set("project", q.Project)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ListPromotions returns one page of the promotions q selects, newest
// first; Next in the answer is the After of the next page.
func (c *Client) ListPromotions(ctx context.Context, q PromotionQuery) (*wire.PromotionList, error) {
	return call[wire.PromotionList](ctx, c, request{method: "GET", path: "/api/v1/promotions", query: q.values()})
}
