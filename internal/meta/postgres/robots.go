package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

const robotCols = `id, name, project_id, description, secret_hash, permissions::text, expires_at,
	disabled, created_at, created_by, last_used_at`

// Robot accounts. project_id is NULL for a system robot (ProjectID 0).
const (
	// The robot is inserted only if its project exists (or it has none);
	// no row back means the name is taken or the project missing.
	insertRobotSQL = `INSERT INTO robots (name, project_id, description, secret_hash, permissions,
		expires_at, disabled, created_at, created_by, last_used_at)
		SELECT $1::text, $2::bigint, $3::text, $4::text, $5::jsonb, $6::timestamptz, $7::boolean,
			$8::timestamptz, $9::text, $10::timestamptz
		WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = $2::bigint)
		ON CONFLICT DO NOTHING RETURNING id`
	projectExistsSQL = `SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)`
	getRobotSQL      = `SELECT ` + robotCols + ` FROM robots WHERE name = $1`
	updateRobotSQL   = `UPDATE robots SET description = $1, secret_hash = $2, permissions = $3::jsonb,
		expires_at = $4, disabled = $5 WHERE id = $6`
	touchRobotSQL = `UPDATE robots SET last_used_at = $1
		WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`
	deleteRobotSQL       = `DELETE FROM robots WHERE name = $1`
	listAllRobotsSQL     = `SELECT ` + robotCols + ` FROM robots ORDER BY name`
	listSystemRobotsSQL  = `SELECT ` + robotCols + ` FROM robots WHERE project_id IS NULL ORDER BY name`
	listProjectRobotsSQL = `SELECT ` + robotCols + ` FROM robots WHERE project_id = $1 ORDER BY name`
)

// nullID is the stored form of an owning project: NULL for 0.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// permissionsJSON encodes a robot's permissions for the jsonb column.
func permissionsJSON(perms []meta.RobotPermission) (string, error) {
	if len(perms) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(perms)
	if err != nil {
		return "", errdefs.Invalid("encode robot permissions: %v", err)
	}
	return string(b), nil
}

func scanRobot(row pgx.Row) (*meta.Robot, error) {
	var (
		r                 meta.Robot
		project           *int64
		perms             string
		expires, lastUsed *time.Time
	)
	err := row.Scan(&r.ID, &r.Name, &project, &r.Description, &r.SecretHash, &perms, &expires,
		&r.Disabled, &r.CreatedAt, &r.CreatedBy, &lastUsed)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(perms), &r.Permissions); err != nil {
		return nil, fmt.Errorf("decode stored robot permissions: %w", err)
	}
	r.Permissions = nilIfEmpty(r.Permissions)
	if project != nil {
		r.ProjectID = *project
	}
	r.ExpiresAt, r.CreatedAt, r.LastUsedAt = fromNullTime(expires), r.CreatedAt.UTC(), fromNullTime(lastUsed)
	return &r, nil
}

// CreateRobot stores r and sets r.ID (CreatedAt defaults to now);
// ErrAlreadyExists if the name is taken, ErrNotFound if r.ProjectID names
// no project.
func (q *querier) CreateRobot(ctx context.Context, r *meta.Robot) (err error) {
	defer errdefs.Wrapf(&err, "postgres: create robot %q", r.Name)
	perms, err := permissionsJSON(r.Permissions)
	if err != nil {
		return err
	}
	err = q.db.QueryRow(ctx, insertRobotSQL, r.Name, nullID(r.ProjectID), r.Description, r.SecretHash,
		perms, nullTime(r.ExpiresAt), r.Disabled, pgTimeOrNow(r.CreatedAt), r.CreatedBy,
		nullTime(r.LastUsedAt)).Scan(&r.ID)
	switch {
	case sqlState(err) == codeUniqueViolation:
		return errdefs.AlreadyExists("robot %q already exists", r.Name)
	case isFKViolation(err): // the project was deleted meanwhile
		return errdefs.NotFound("project %d not found", r.ProjectID)
	case errors.Is(err, pgx.ErrNoRows):
	default:
		return classify(err)
	}
	if r.ProjectID != 0 {
		var exists bool
		if err := q.db.QueryRow(ctx, projectExistsSQL, r.ProjectID).Scan(&exists); err != nil {
			return classify(err)
		}
		if !exists {
			return errdefs.NotFound("project %d not found", r.ProjectID)
		}
	}
	return errdefs.AlreadyExists("robot %q already exists", r.Name)
}

// GetRobot returns the robot called name or ErrNotFound.
func (q *querier) GetRobot(ctx context.Context, name string) (_ *meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "postgres: get robot %q", name)
	return getOne(ctx, q.db, scanRobot, fmt.Sprintf("robot %q", name), getRobotSQL, name)
}

// UpdateRobot stores Description, SecretHash, Permissions, ExpiresAt and
// Disabled of r (by r.ID); ErrNotFound if absent.
func (q *querier) UpdateRobot(ctx context.Context, r *meta.Robot) (err error) {
	defer errdefs.Wrapf(&err, "postgres: update robot %d", r.ID)
	perms, err := permissionsJSON(r.Permissions)
	if err != nil {
		return err
	}
	tag, err := q.db.Exec(ctx, updateRobotSQL, r.Description, r.SecretHash, perms, nullTime(r.ExpiresAt),
		r.Disabled, r.ID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("robot %d not found", r.ID)
	}
	return nil
}

// TouchRobot sets the last-used time of robot id to at if that is later
// than the one stored. A robot that does not exist (deleted meanwhile) is
// not an error: there is nothing to record.
func (q *querier) TouchRobot(ctx context.Context, id int64, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: touch robot %d", id)
	_, err = q.db.Exec(ctx, touchRobotSQL, pgTime(at), id)
	return classify(err)
}

// DeleteRobot removes the robot; ErrNotFound if absent.
func (q *querier) DeleteRobot(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete robot %q", name)
	tag, err := q.db.Exec(ctx, deleteRobotSQL, name)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("robot %q not found", name)
	}
	return nil
}

// ListRobots returns the robots of the project (0: system robots; -1:
// every robot) in byte order of name.
func (q *querier) ListRobots(ctx context.Context, projectID int64) (_ []meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "postgres: list robots of project %d", projectID)
	switch {
	case projectID < 0:
		return queryAll(ctx, q.db, scanRobot, listAllRobotsSQL)
	case projectID == 0:
		return queryAll(ctx, q.db, scanRobot, listSystemRobotsSQL)
	}
	return queryAll(ctx, q.db, scanRobot, listProjectRobotsSQL, projectID)
}
