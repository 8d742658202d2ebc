package bench

import (
	"fmt"
	"math"
	"strings"
)

// writeScaleOut writes the scale-out section: every scenario of Berth
// scale-out against Berth embedded with the check on manifest
// HEAD/GET, then blob transfers on S3 against the S3 server's own speed.
func writeScaleOut(b *strings.Builder, c *Comparison) {
	b.WriteString("## Scale-out: Berth on PostgreSQL and S3\n\n")
	b.WriteString("The same scenarios against `berth serve --metadata postgres://... --storage s3://...`: metadata in ")
	b.WriteString("PostgreSQL (fsync and synchronous_commit on), blobs in a versitygw bucket, all on this machine. ")
	b.WriteString("Embedded is the default mode, so its figures carry the targets above; here scale-out is set against ")
	b.WriteString("embedded, and must resolve manifests by tag within 2× of it (at least 0.5× its rate: on PostgreSQL ")
	b.WriteString("every tag lookup is a query, since a replica may not answer from memory what another replica may have changed).\n\n")
	if c.Rounds[LabelScaleOut] == 0 {
		b.WriteString("Not yet run: no Berth scale-out results.\n\n")
	}
	b.WriteString("| scenario | unit | Berth | Berth scale-out | scale-out/embedded | target | verdict |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|\n")
	for _, t := range Targets {
		var bv, sv float64 = math.NaN(), math.NaN()
		if cmp := c.Find(t.Result); cmp != nil {
			bv, sv = cmp.Series[LabelBerth].Median(), cmp.Series[LabelScaleOut].Median()
		}
		ratio, tgt, verdict := Ratio(sv, bv), "", ""
		for _, st := range ScaleOutTargets {
			if st.Result == t.Result {
				var v Verdict
				ratio, v = c.ScaleOutVerdict(st)
				tgt, verdict = formatTarget(st.Ratio, st.Unit.HigherIsBetter()), string(v)
			}
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s (%s) | %s | %s |\n", t.Result, t.Unit, formatValue(bv, t.Unit),
			formatValue(sv, t.Unit), formatRatio(ratio), direction(t.Unit.HigherIsBetter()), tgt, verdict)
	}
	b.WriteString("\n")
	writeS3Comparison(b, c)
}

// writeS3Comparison sets Berth scale-out's blob transfers beside the raw
// S3 measurements, then lists the raw figures themselves.
func writeS3Comparison(b *strings.Builder, c *Comparison) {
	b.WriteString("### Blob transfer on S3 against the S3 server's own speed\n\n")
	b.WriteString("Once per scale-out round, after Berth's run and with Berth stopped, `berthbench raws3` sends the ")
	b.WriteString("same payloads straight to that round's versitygw with minio-go (the S3 client Berth's driver uses): ")
	b.WriteString("the 512 MiB blob as a multipart upload of 16 MiB parts (Berth's part size) read back with one GET, ")
	b.WriteString("and 2,000 objects of 64 KiB PUT, then GET, 32 at a time; every GET is verified against the digest. ")
	b.WriteString("A ratio of 1× means Berth moves blobs as fast as the S3 server can take or give them with no ")
	b.WriteString("registry in between; Berth also hashes every byte, keeps the upload's state in PostgreSQL and makes ")
	b.WriteString("a few more S3 requests per blob (the upload marker and the digest index).\n\n")
	b.WriteString("| transfer | unit | Berth scale-out | raw S3 | Berth/raw S3 |\n|---|---|---:|---:|---:|\n")
	for _, p := range S3Pairs {
		bv, rv, ratio, clean := c.S3Ratio(p)
		unit := MiBPerSec
		if strings.HasPrefix(p.Berth, "small-blobs") {
			unit = OpsPerSec
		}
		r := formatRatio(ratio) + " (higher is better)"
		if !clean && !math.IsNaN(ratio) {
			r += ", " + string(Invalid)
		}
		fmt.Fprintf(b, "| %s (`%s` / `%s`) | %s | %s | %s | %s |\n", p.What, p.Berth, p.Raw, unit,
			formatValue(bv, unit), formatValue(rv, unit), r)
	}
	b.WriteString("\nThe raw S3 figures themselves (the S3 server's CPU and peak RSS are those of versitygw):\n\n")
	b.WriteString("| measurement | unit | median | per round | latency p50, ms | latency p99, ms | S3 server CPU, s | S3 server peak RSS, MiB | errors |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, name := range []string{RawPutBig, RawGetBig, RawPutSmall, RawGetSmall} {
		var s *Series
		if cmp := c.Find(name); cmp != nil {
			s = cmp.Series[LabelRawS3]
		}
		unit := MiBPerSec
		if strings.HasSuffix(name, "-small") {
			unit = OpsPerSec
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, unit, formatValue(s.Median(), unit),
			rounds(s, unit), fixed2(medianOf(s, func(s *Series) []float64 { return s.P50 })),
			fixed2(medianOf(s, func(s *Series) []float64 { return s.P99 })),
			fixed2(medianOf(s, func(s *Series) []float64 { return s.CPU })),
			mibF(medianOf(s, func(s *Series) []float64 { return s.PeakRSS })), errorCount(s))
	}
	b.WriteString("\n")
}
