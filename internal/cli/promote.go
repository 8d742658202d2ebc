package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/spf13/cobra"
)

func newPromoteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:   "promote SRC:TAG|SRC@DIGEST DST:TAG",
		Short: "Promote an artifact to another repository or project without copying blobs",
		Long: `Promote an artifact: make the manifest SRC names available as DST:TAG, with
its index children (every platform of a multi-arch image) and its referrers
(signatures, SBOMs, attestations). No blob data is copied; the destination
repository is created if needed. The destination's immutability rules apply:
an immutable tag is never moved to another digest (promoting the digest it
already has is fine). The tag counts as freshly pushed for retention, even when
it already pointed at the digest. The promotion is recorded: see
"berth promotions".

It needs pull on the source repository and push on the destination.`,
		Example: `  berth promote staging/api:1.4.2 prod/api:1.4.2
  berth promote staging/api@sha256:4c1b... prod/api:stable -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.Promote(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return printPromoted(cmd.OutOrStdout(), p)
		},
	}
	r = addRemoteFlags(cmd, "text", "json")
	return cmd
}

// printPromoted says what a promotion did, in words.
func printPromoted(w io.Writer, p *wire.Promotion) error {
	_, err := fmt.Fprintf(w, "Promoted %s@%s to %s:%s (%d children, %d referrers)\n",
		p.SourceRepository, p.Digest, p.DestinationRepository, p.Tag, p.Children, p.Referrers)
	if err == nil && p.Previous != "" {
		_, err = fmt.Fprintf(w, "The tag pointed at %s before\n", p.Previous)
	}
	return err
}

func newPromotionsCommand() *cobra.Command {
	var r *remote
	var q client.PromotionQuery
	cmd := &cobra.Command{
		Use:   "promotions (--digest DIGEST | --project PROJECT)",
		Short: "List promotions of a digest or from and into a project, newest first",
		Long: `List recorded promotions, newest first: which digest went from where to which
tag, by whom and when. Only promotions into repositories you may pull are
listed, and their source only when you may pull it too.`,
		Example: `  berth promotions --digest sha256:4c1b...
  berth promotions --project prod --limit 20 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Digest == "" && q.Project == "" {
				return &exitError{code: 2, err: fmt.Errorf("give --digest or --project")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			list, err := c.ListPromotions(cmd.Context(), q)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), list.Promotions)
			}
			rows := make([][]string, 0, len(list.Promotions))
			for _, p := range list.Promotions {
				src := p.SourceRepository
				if src == "" {
					src = "(hidden)"
				} else {
					src += refSep(p.SourceReference) + p.SourceReference
				}
				rows = append(rows, []string{strconv.FormatInt(p.ID, 10), shortDigest(p.Digest), src,
					p.DestinationRepository + ":" + p.Tag, p.PromotedBy, p.PromotedAt})
			}
			if err := printTable(cmd.OutOrStdout(), []string{"ID", "DIGEST", "SOURCE", "DESTINATION", "BY", "AT"}, rows); err != nil {
				return err
			}
			if list.Next != "" {
				_, err = fmt.Fprintf(cmd.ErrOrStderr(), "More: --after %s\n", list.Next)
			}
			return err
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&q.Digest, "digest", "", "only promotions of this manifest digest")
	cmd.Flags().StringVar(&q.Project, "project", "", "only promotions from or into this project")
	cmd.Flags().StringVar(&q.After, "after", "", "the next page, after this promotion ID")
	cmd.Flags().IntVar(&q.Limit, "limit", 0, "page size (default 100)")
	return cmd
}

// refSep is how a reference joins its repository: '@' for a digest, ':'
// for a tag.
func refSep(reference string) string {
	if _, _, ok := cutDigest(reference); ok {
		return "@"
	}
	return ":"
}

// cutDigest reports whether reference is a digest (algorithm:hex).
func cutDigest(reference string) (alg, hex string, ok bool) {
	alg, hex, found := strings.Cut(reference, ":")
	return alg, hex, found && len(hex) >= 32
}

// shortDigest is the start of a digest, enough to tell them apart in a
// table.
func shortDigest(d string) string {
	if alg, hex, ok := cutDigest(d); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}
