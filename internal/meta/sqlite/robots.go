package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

const robotCols = `id, name, project_id, description, secret_hash, permissions, expires_at,
	disabled, created_at, created_by, last_used_at`

// Robot accounts. project_id is NULL for a system robot (ProjectID 0).
var (
	insertRobotSQL = stmt(`INSERT INTO robots (name, project_id, description, secret_hash,
		permissions, expires_at, disabled, created_at, created_by, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getRobotSQL    = stmt(`SELECT ` + robotCols + ` FROM robots WHERE name = ?`)
	updateRobotSQL = stmt(`UPDATE robots SET description = ?, secret_hash = ?, permissions = ?,
		expires_at = ?, disabled = ? WHERE id = ?`)
	touchRobotSQL = stmt(`UPDATE robots SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	deleteRobotSQL     = stmt(`DELETE FROM robots WHERE name = ?`)
	listAllRobotsSQL   = stmt(`SELECT ` + robotCols + ` FROM robots ORDER BY name`)
	listSystemRobotSQL = stmt(`SELECT ` + robotCols + ` FROM robots WHERE project_id IS NULL
		ORDER BY name`)
	listProjectRobotsSQL = stmt(`SELECT ` + robotCols + ` FROM robots WHERE project_id = ?
		ORDER BY name`)
)

// nullID is the stored form of an owning project: NULL for 0.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func scanRobot(row scanner) (*meta.Robot, error) {
	var (
		r                 meta.Robot
		project           sql.NullInt64
		perms             string
		expires, lastUsed sql.NullInt64
		created           int64
	)
	err := row.Scan(&r.ID, &r.Name, &project, &r.Description, &r.SecretHash, &perms, &expires,
		&r.Disabled, &created, &r.CreatedBy, &lastUsed)
	if err != nil {
		return nil, err
	}
	if r.Permissions, err = fromJSON[meta.RobotPermission](perms); err != nil {
		return nil, err
	}
	r.ProjectID = project.Int64
	r.ExpiresAt, r.CreatedAt, r.LastUsedAt = fromNullMicros(expires), fromMicros(created), fromNullMicros(lastUsed)
	return &r, nil
}

// CreateRobot stores r and sets r.ID (CreatedAt defaults to now);
// ErrAlreadyExists if the name is taken, ErrNotFound if r.ProjectID names
// no project.
func (q *querier) CreateRobot(ctx context.Context, r *meta.Robot) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: create robot %q", r.Name)
	perms, err := toJSON(r.Permissions)
	if err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertRobotSQL, r.Name, nullID(r.ProjectID), r.Description, r.SecretHash,
			perms, nullMicros(r.ExpiresAt), r.Disabled, microsOrNow(r.CreatedAt), r.CreatedBy,
			nullMicros(r.LastUsedAt))
		switch {
		case isUniqueViolation(err):
			return errdefs.AlreadyExists("robot %q already exists", r.Name)
		case isFKViolation(err):
			return errdefs.NotFound("project %d not found", r.ProjectID)
		case err != nil:
			return classify(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return classify(err)
		}
		r.ID = id
		return nil
	})
}

// GetRobot returns the robot called name or ErrNotFound.
func (q *querier) GetRobot(ctx context.Context, name string) (_ *meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get robot %q", name)
	r, err := scanRobot(q.read.queryRow(ctx, getRobotSQL, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("robot %q not found", name)
	}
	if err != nil {
		return nil, classify(err)
	}
	return r, nil
}

// UpdateRobot stores Description, SecretHash, Permissions, ExpiresAt and
// Disabled of r (by r.ID); ErrNotFound if absent.
func (q *querier) UpdateRobot(ctx context.Context, r *meta.Robot) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: update robot %d", r.ID)
	perms, err := toJSON(r.Permissions)
	if err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, updateRobotSQL, r.Description, r.SecretHash, perms,
			nullMicros(r.ExpiresAt), r.Disabled, r.ID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("robot %d not found", r.ID)
		}
		return nil
	})
}

// TouchRobot sets the last-used time of robot id to at if that is later
// than the one stored. A robot that does not exist (deleted meanwhile) is
// not an error: there is nothing to record.
func (q *querier) TouchRobot(ctx context.Context, id int64, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: touch robot %d", id)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, touchRobotSQL, micros(at), id, micros(at))
		return classify(err)
	})
}

// DeleteRobot removes the robot; ErrNotFound if absent.
func (q *querier) DeleteRobot(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete robot %q", name)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteRobotSQL, name))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("robot %q not found", name)
		}
		return nil
	})
}

// ListRobots returns the robots of the project (0: system robots; -1:
// every robot) in byte order of name.
func (q *querier) ListRobots(ctx context.Context, projectID int64) (_ []meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list robots of project %d", projectID)
	var rows *sql.Rows
	switch {
	case projectID < 0:
		rows, err = q.read.query(ctx, listAllRobotsSQL)
	case projectID == 0:
		rows, err = q.read.query(ctx, listSystemRobotSQL)
	default:
		rows, err = q.read.query(ctx, listProjectRobotsSQL, projectID)
	}
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanRobot)
}
