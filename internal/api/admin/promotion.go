package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/berth-registry/berth/internal/registry"
)

// Promotions. POST needs pull on the source repository and push on the
// destination; a repository the caller may not pull is answered as not
// found, so its existence does not leak. Listings show the promotions into
// repositories the caller may pull, without the source when the caller may
// not pull that. Promotions are audited as promotion.create.

// Promoter promotes artifacts; *registry.Service is one.
type Promoter interface {
	Promote(ctx context.Context, req registry.PromoteRequest) (*registry.Promotion, error)
}

// promotionScan bounds the store pages one listing reads while skipping
// records the caller may not see; past it the page ends early with a
// cursor.
const promotionScan = 10

func (h *Handler) createPromotion(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	var in wire.NewPromotion
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	var res *registry.Promotion
	defer func() { h.auditPromotion(ctx, p, in, res, err) }()
	if h.opts.Promoter == nil {
		return errdefs.Unavailable("this server was set up without promotions")
	}
	srcRepo, _, err := registry.SplitReference(in.Source)
	if err != nil {
		return errdefs.Invalid("source: %v", err)
	}
	dstRepo, _, err := registry.SplitReference(in.Destination)
	if err != nil {
		return errdefs.Invalid("destination: %v", err)
	}
	if err := h.mayPromote(ctx, p, srcRepo, dstRepo); err != nil {
		return err
	}
	res, err = h.opts.Promoter.Promote(ctx, registry.PromoteRequest{Source: in.Source, Destination: in.Destination})
	if err != nil {
		return err
	}
	out := promotionOut(&res.Promotion, true)
	out.Previous = string(res.Previous)
	return writeJSON(w, http.StatusCreated, out)
}

// mayPromote checks pull on src and push on dst for p. A repository p may
// not pull is ErrNotFound; a destination p may pull but not push to is
// ErrDenied.
func (h *Handler) mayPromote(ctx context.Context, p access.Principal, src, dst string) error {
	got, err := h.opts.Access.Authorize(ctx, p, src, []access.Action{access.Pull})
	if err != nil {
		return err
	}
	if !access.Has(got, access.Pull) {
		return errdefs.NotFound("repository %s not found", src)
	}
	got, err = h.opts.Access.Authorize(ctx, p, dst, []access.Action{access.Pull, access.Push})
	if err != nil {
		return err
	}
	switch {
	case access.Has(got, access.Push):
		return nil
	case access.Has(got, access.Pull):
		return errdefs.Denied("%s may not push to %s; promoting needs push on the destination", p, dst)
	default:
		return errdefs.NotFound("repository %s not found", dst)
	}
}

func (h *Handler) listPromotions(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var ps meta.PromotionStore
	if s, ok := h.opts.Roles.(meta.Store); ok {
		ps, _ = meta.PromotionOf(s)
	}
	if ps == nil {
		return errdefs.Unavailable("this server keeps no promotion records (its metadata store cannot)")
	}
	q, err := promotionQuery(r)
	if err != nil {
		return err
	}
	limit := q.Limit
	visible := h.pullFilter(r.Context(), p)
	out := wire.PromotionList{Promotions: []wire.Promotion{}}
	full, exhausted := false, false
	for range promotionScan {
		page, err := ps.ListPromotions(r.Context(), q)
		if err != nil {
			return err
		}
		for _, rec := range page {
			q.Before = rec.ID
			if !visible(rec.DestinationRepository) {
				continue
			}
			out.Promotions = append(out.Promotions, promotionOut(&rec, visible(rec.SourceRepository)))
			if full = len(out.Promotions) == limit; full {
				break
			}
		}
		if full {
			break
		}
		if exhausted = len(page) < q.Limit; exhausted {
			break
		}
	}
	if !exhausted && q.Before != 0 {
		out.Next = strconv.FormatInt(q.Before, 10)
	}
	if out.Next != "" {
		v := r.URL.Query()
		v.Set("after", out.Next)
		next := url.URL{Path: r.URL.Path, RawQuery: v.Encode()}
		w.Header().Set("Link", "<"+next.String()+`>; rel="next"`)
	}
	return writeJSON(w, http.StatusOK, out)
}

// promotionQuery reads the filters and page of a listing.
func promotionQuery(r *http.Request) (meta.PromotionQuery, error) {
	v := r.URL.Query()
	var q meta.PromotionQuery
	var err error
	if d := v.Get("digest"); d != "" {
		if q.Digest, err = ref.ParseDigest(d); err != nil {
			return q, errdefs.Invalid("digest=%q: %v", d, err)
		}
	}
	q.Project = v.Get("project")
	if a := v.Get("after"); a != "" {
		if q.Before, err = strconv.ParseInt(a, 10, 64); err != nil || q.Before <= 0 {
			return q, errdefs.Invalid("after=%q: want the next cursor of the previous page", a)
		}
	}
	q.Limit, err = pageLimit(r, defaultPage, maxPage)
	return q, err
}

// pullFilter returns whether p may pull a repository, memoised for one
// request. A failure to decide answers no.
func (h *Handler) pullFilter(ctx context.Context, p access.Principal) func(repo string) bool {
	memo := map[string]bool{}
	return func(repo string) bool {
		ok, seen := memo[repo]
		if !seen {
			got, err := h.opts.Access.Authorize(ctx, p, repo, []access.Action{access.Pull})
			ok = err == nil && access.Has(got, access.Pull)
			memo[repo] = ok
		}
		return ok
	}
}

// auditPromotion records a promotion attempt whose result is err.
func (h *Handler) auditPromotion(ctx context.Context, p access.Principal, in wire.NewPromotion, res *registry.Promotion, err error) {
	if h.opts.Audit == nil {
		return
	}
	e := meta.AuditEvent{ActorKind: string(p.Kind), Actor: p.Name, Action: "promotion.create",
		Resource: in.Destination, Outcome: "success", Detail: "from " + in.Source}
	if repo, _, perr := registry.SplitReference(in.Destination); perr == nil {
		e.Project = access.ProjectOf(repo)
	}
	if res != nil {
		e.Resource = "promotion/" + strconv.FormatInt(res.ID, 10)
		e.Detail = "from " + in.Source + " to " + in.Destination + " digest " + string(res.Digest)
	}
	if err != nil {
		e.Outcome = "failure"
		if errdefs.IsDenied(err) {
			e.Outcome = "denied"
		}
		e.Detail = "from " + in.Source + " to " + in.Destination + ": " + err.Error()
	}
	h.opts.Audit.Record(ctx, e)
}

// promotionOut is rec as the API shows it, without its source unless
// withSource.
func promotionOut(rec *meta.Promotion, withSource bool) wire.Promotion {
	out := wire.Promotion{
		ID: rec.ID, Digest: string(rec.Digest),
		DestinationRepository: rec.DestinationRepository, Tag: rec.Tag,
		PromotedBy: rec.PromotedBy, PromotedAt: wire.Time(rec.PromotedAt),
		Children: rec.Children, Referrers: rec.Referrers,
	}
	if withSource {
		out.SourceRepository, out.SourceReference = rec.SourceRepository, rec.SourceReference
	}
	return out
}
