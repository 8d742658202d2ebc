package wire

// NewPromotion is the body of POST /api/v1/promotions.
type NewPromotion struct {
	// Source is "repository:tag" or "repository@digest".
	Source string `json:"source"`
	// Destination is "repository:tag", in the same or another project.
	Destination string `json:"destination"`
}

// Promotion is a promotion record: the artifact Digest, named in
// SourceRepository by SourceReference, was made available as
// DestinationRepository:Tag with its index children and referrers, without
// copying blob data.
type Promotion struct {
	ID     int64  `json:"id"`
	Digest string `json:"digest"`
	// SourceRepository and SourceReference are "" in listings when the
	// caller may not pull the source repository.
	SourceRepository      string `json:"source_repository,omitempty"`
	SourceReference       string `json:"source_reference,omitempty"`
	DestinationRepository string `json:"destination_repository"`
	Tag                   string `json:"tag"`
	PromotedBy            string `json:"promoted_by,omitempty"`
	PromotedAt            string `json:"promoted_at"`
	// Children counts the index children and Referrers the referrers
	// (signatures, SBOMs, attestations) that came along.
	Children  int `json:"children"`
	Referrers int `json:"referrers"`
	// Previous is the digest the destination tag pointed at before this
	// promotion moved it; only in the answer to POST, "" when the tag was
	// new or already pointed at Digest.
	Previous string `json:"previous,omitempty"`
}

// PromotionList is the body of GET /api/v1/promotions, newest first.
type PromotionList struct {
	Promotions []Promotion `json:"promotions"`
	// Next is the after= cursor of the next (older) page, "" on the last.
	Next string `json:"next,omitempty"`
}
