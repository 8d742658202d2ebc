package retention

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// judge applies r's criterion to the units it selected: keep[i] says
// whether the criterion keeps selected[i] (for an expire rule: does not
// expire it); detail(i) says why in words (computed only when asked: most
// units never need it). stamp is distinct for every call of one evaluation.
func judge(r *Rule, selected []*unit, now time.Time, stamp int) (keep []bool, detail func(int) string) {
	keep = make([]bool, len(selected))
	n := r.Selection.CountNumber
	limit := time.Duration(n) * day
	switch r.Selection.CountType {
	case Always:
		for i := range selected {
			keep[i] = r.action() == Retain
		}
		return keep, func(int) string { return "selected" }
	case SincePushed:
		for i, u := range selected {
			keep[i] = now.Sub(u.age) <= limit
		}
		return keep, func(i int) string { return ageDetail(selected[i], now) }
	case SincePulled:
		for i, u := range selected {
			keep[i] = now.Sub(u.pulledAt()) <= limit
		}
		return keep, func(i int) string { return pullDetail(selected[i], now) }
	case CountMoreThan:
		rank(selected, n, keep, stamp, func(u *unit) time.Time { return u.age })
		return keep, func(i int) string { return ordinal(selected[i].m.rank) + " newest image" }
	case MostRecentlyPulled:
		rank(selected, n, keep, stamp, (*unit).pulledAt)
		return keep, func(i int) string { return ordinal(selected[i].m.rank) + " most recently pulled image" }
	}
	return keep, func(int) string { return "unknown criterion" }
}

// rank ranks the distinct manifests of selected by the latest time of
// their units (newest first, ties by digest), recording the rank in each
// manifest, and keeps the units whose manifest ranks n or better.
func rank(selected []*unit, n int, keep []bool, stamp int, at func(*unit) time.Time) {
	var order []*mstate
	for _, u := range selected {
		m, t := u.m, at(u)
		if m.stamp != stamp {
			m.stamp, m.rankAt = stamp, t
			order = append(order, m)
		} else if t.After(m.rankAt) {
			m.rankAt = t
		}
	}
	slices.SortFunc(order, func(a, b *mstate) int {
		if c := b.rankAt.Compare(a.rankAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.info.Digest), string(b.info.Digest))
	})
	for i, m := range order {
		m.rank = i + 1
	}
	for i, u := range selected {
		keep[i] = u.m.rank <= n
	}
}

func ageDetail(u *unit, now time.Time) string {
	if u.setNew {
		return "tag set " + daysAgo(now, u.age)
	}
	return "pushed " + daysAgo(now, u.age)
}

func pullDetail(u *unit, now time.Time) string {
	last := u.m.info.LastPulledAt
	switch {
	case last.IsZero():
		return "never pulled; " + ageDetail(u, now)
	case last.After(u.age):
		return "last pulled " + daysAgo(now, last)
	default:
		return ageDetail(u, now) + ", last pulled " + daysAgo(now, last)
	}
}

// daysAgo says how long before now t was, in whole days.
func daysAgo(now, t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := int(now.Sub(t) / day)
	switch {
	case d <= 0:
		return "less than a day ago"
	case d == 1:
		return "1 day ago"
	}
	return itoa(d) + " days ago"
}

func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return itoa(n) + suffix
}

func itoa(n int) string { return strconv.Itoa(n) }
