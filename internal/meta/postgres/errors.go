package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// SQLSTATE codes the backend acts on.
const (
	codeFKViolation     = "23503"
	codeUniqueViolation = "23505"
	codeSerialization   = "40001"
	codeDeadlock        = "40P01"
)

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// isFKViolation reports whether err is a failed foreign key check; callers
// decide what it means (a missing manifest, a manifest still tagged).
func isFKViolation(err error) bool { return sqlState(err) == codeFKViolation }

// retryable reports whether a transaction failed only because it raced
// another one, so that running it again may succeed.
func retryable(err error) bool {
	s := sqlState(err)
	return s == codeSerialization || s == codeDeadlock
}

// classify gives err the errdefs class the contract asks for where the
// class follows from the error alone: no row is ErrNotFound; a server that
// cannot be reached, is shutting down, out of resources, or that keeps
// aborting the transaction over a race is ErrUnavailable; malformed data
// (a NUL byte in text, a value out of range) is ErrInvalid. Constraint
// violations are left to the caller, who knows what they mean. Context
// errors pass through unchanged. The cause stays reachable with errors.As.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	}
	if s := sqlState(err); s != "" {
		switch {
		case retryable(err),
			strings.HasPrefix(s, "08"), // connection exception
			strings.HasPrefix(s, "53"), // insufficient resources
			strings.HasPrefix(s, "57"), // operator intervention: shutdown, cancel
			strings.HasPrefix(s, "58"): // system error: I/O
			return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
		case strings.HasPrefix(s, "22"): // data exception
			return fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
		}
		return err
	}
	if isConnectionError(err) {
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}

// isConnectionError reports whether err is a failure to reach or keep a
// connection, rather than an answer of the server.
func isConnectionError(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, puddle.ErrClosedPool) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
