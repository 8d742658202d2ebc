package metatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func userTests() []test {
	return []test{
		{"CreateGetRoundTrip", testUserRoundTrip},
		{"Uniqueness", testUserUniqueness},
		{"UpdateUser", testUpdateUser},
		{"DeleteUserCascadesMemberships", testDeleteUser},
		{"ListUsersPages", testListUsers},
		{"TouchUserOnlyMovesForward", testTouchUser},
	}
}

func testTouchUser(t *testing.T, s meta.Store) {
	ctx := t.Context()
	u := newUser("touched")
	u.LastLoginAt = time.Time{}
	mustCreateUser(t, s, u)
	steps := []struct {
		name     string
		at, want time.Time
	}{
		{"first sign-in", at(time.Hour), at(time.Hour)},
		{"later", at(2 * time.Hour), at(2 * time.Hour)},
		{"earlier is ignored", at(90 * time.Minute), at(2 * time.Hour)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.TouchUser(ctx, u.ID, st.at); err != nil {
				t.Fatalf("TouchUser: %v", err)
			}
			got, err := s.GetUser(ctx, u.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastLoginAt.Equal(st.want) {
				t.Errorf("LastLoginAt = %v, want %v", got.LastLoginAt, st.want)
			}
			// Nothing else moved.
			if got.Email != u.Email || got.Disabled != u.Disabled || got.PasswordHash != u.PasswordHash {
				t.Errorf("TouchUser changed other fields: %+v", got)
			}
		})
	}
	if err := s.TouchUser(ctx, u.ID+1000, at(time.Hour)); err != nil {
		t.Errorf("TouchUser of a missing user: %v, want nil", err)
	}
}

// newUser returns a local user called name with every field set.
func newUser(name string) *meta.User {
	return &meta.User{
		Name:          name,
		Email:         name + "@example.com",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + name,
		CLISecretHash: "cli-" + name,
		CreatedAt:     baseTime,
		UpdatedAt:     at(time.Minute),
		LastLoginAt:   at(time.Hour),
	}
}

// newOIDCUser returns a user signed in through issuer as subject.
func newOIDCUser(name, issuer, subject string, groups ...string) *meta.User {
	return &meta.User{Name: name, Issuer: issuer, Subject: subject, Groups: groups,
		CreatedAt: baseTime, UpdatedAt: baseTime}
}

// mustCreateUser stores u.
func mustCreateUser(t *testing.T, q meta.Querier, u *meta.User) {
	t.Helper()
	if err := q.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Name, err)
	}
	if u.ID == 0 {
		t.Fatalf("CreateUser(%q) left the ID unset", u.Name)
	}
}

func testUserRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	local := newUser("alice")
	local.SysAdmin = true
	oidc := newOIDCUser("bob", "https://idp.example", "sub-1", "devs", "ops")
	oidc.Disabled = true
	for _, u := range []*meta.User{local, oidc} {
		mustCreateUser(t, s, u)
	}
	if local.ID == oidc.ID {
		t.Fatalf("two users got ID %d", local.ID)
	}
	tests := []struct {
		name string
		get  func() (*meta.User, error)
		want *meta.User
	}{
		{"GetUser local", func() (*meta.User, error) { return s.GetUser(ctx, "alice") }, local},
		{"GetUser OIDC", func() (*meta.User, error) { return s.GetUser(ctx, "bob") }, oidc},
		{"GetUserBySubject", func() (*meta.User, error) {
			return s.GetUserBySubject(ctx, "https://idp.example", "sub-1")
		}, oidc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if err != nil {
				t.Fatal(err)
			}
			adiff(t, tc.name, tc.want, got)
			wantUTC(t, "CreatedAt", got.CreatedAt)
		})
	}
	absent := []struct {
		name string
		get  func() (*meta.User, error)
	}{
		{"GetUser", func() (*meta.User, error) { return s.GetUser(ctx, "carol") }},
		{"GetUser other case", func() (*meta.User, error) { return s.GetUser(ctx, "Alice") }},
		{"GetUserBySubject other subject", func() (*meta.User, error) {
			return s.GetUserBySubject(ctx, "https://idp.example", "sub-2")
		}},
		{"GetUserBySubject other issuer", func() (*meta.User, error) {
			return s.GetUserBySubject(ctx, "https://other.example", "sub-1")
		}},
		{"GetUserBySubject local account", func() (*meta.User, error) { return s.GetUserBySubject(ctx, "", "") }},
	}
	for _, tc := range absent {
		t.Run("absent/"+tc.name, func(t *testing.T) {
			_, err := tc.get()
			wantErr(t, tc.name, err, errdefs.ErrNotFound)
		})
	}
}

func testUserUniqueness(t *testing.T, s meta.Store) {
	mustCreateUser(t, s, newUser("alice"))
	mustCreateUser(t, s, newOIDCUser("bob", "https://idp.example", "sub-1"))
	tests := []struct {
		name string
		user *meta.User
		want error
	}{
		{"same name", newUser("alice"), errdefs.ErrAlreadyExists},
		{"same issuer and subject", newOIDCUser("bob2", "https://idp.example", "sub-1"), errdefs.ErrAlreadyExists},
		{"same subject, other issuer", newOIDCUser("bob3", "https://other.example", "sub-1"), nil},
		{"second local account", newUser("carol"), nil}, // local accounts share the empty identity
		{"name differing in case", newUser("Alice"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(t.Context(), tc.user)
			if tc.want == nil {
				if err != nil {
					t.Errorf("CreateUser: %v", err)
				}
				return
			}
			wantErr(t, "CreateUser", err, tc.want)
		})
	}
}

func testUpdateUser(t *testing.T, s meta.Store) {
	ctx := t.Context()
	u := newUser("alice")
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, newOIDCUser("bob", "https://idp.example", "sub-bob"))

	changed := *u
	changed.Name = "ignored" // Name and CreatedAt are not updated
	changed.CreatedAt = at(24 * time.Hour)
	changed.Email, changed.PasswordHash, changed.CLISecretHash = "new@example.com", "", "cli-2"
	changed.SysAdmin, changed.Disabled = true, true
	changed.Issuer, changed.Subject, changed.Groups = "https://idp.example", "sub-alice", []string{"g1"}
	changed.UpdatedAt, changed.LastLoginAt = at(2*time.Hour), time.Time{}
	if err := s.UpdateUser(ctx, &changed); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	want := changed
	want.Name, want.CreatedAt = u.Name, u.CreatedAt
	adiff(t, "user after update", &want, got)
	if bySub, err := s.GetUserBySubject(ctx, "https://idp.example", "sub-alice"); err != nil || bySub.ID != u.ID {
		t.Errorf("GetUserBySubject after update = %+v, %v", bySub, err)
	}

	tests := []struct {
		name string
		edit func(u *meta.User)
		want error
	}{
		{"absent id", func(u *meta.User) { u.ID = u.ID + 1000 }, errdefs.ErrNotFound},
		{"identity of another user", func(u *meta.User) { u.Subject = "sub-bob" }, errdefs.ErrAlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := want
			tc.edit(&v)
			wantErr(t, "UpdateUser", s.UpdateUser(ctx, &v), tc.want)
		})
	}
}

func testDeleteUser(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, newUser("alice"))
	p := mustCreateProject(t, s, "team", false)
	members := []meta.Member{
		{ProjectID: p.ID, Kind: meta.MemberUser, Name: "alice", Role: "developer", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberGroup, Name: "alice", Role: "guest", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberUser, Name: "bob", Role: "guest", CreatedAt: baseTime},
	}
	for _, m := range members {
		mustPutMember(t, s, m)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.GetUser(ctx, "alice")
	wantErr(t, "GetUser after delete", err, errdefs.ErrNotFound)
	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "alice"), errdefs.ErrNotFound)
	got, err := s.ListMembers(ctx, p.ID)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	// The user's membership goes; a group of the same name and other users stay.
	adiff(t, "members after DeleteUser", []meta.Member{members[2], members[1]}, got)
	// The name is free again.
	mustCreateUser(t, s, newUser("alice"))
}

func testListUsers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	names := []string{"b", "a", "B", "a-b", "a.b", "ä", "z"}
	for _, n := range names {
		mustCreateUser(t, s, newUser(n))
	}
	want := []string{"B", "a", "a-b", "a.b", "b", "z", "ä"} // byte order
	for _, limit := range []int{1, 2, 3, 100} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got := walk(t, limit, func(after string, limit int) ([]string, error) {
				users, err := s.ListUsers(ctx, after, limit)
				return userNames(users), err
			})
			adiff(t, "walked names", want, got)
		})
	}
	t.Run("no limit", func(t *testing.T) {
		users, err := s.ListUsers(ctx, "a", 0)
		if err != nil {
			t.Fatal(err)
		}
		adiff(t, "names after a", want[2:], userNames(users))
		adiff(t, "full record", newUserWithID(users[0]), &users[0])
	})
}

// newUserWithID is newUser(u.Name) with u's ID, what ListUsers must return.
func newUserWithID(u meta.User) *meta.User {
	w := newUser(u.Name)
	w.ID = u.ID
	return w
}

func userNames(users []meta.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Name)
	}
	return out
}
