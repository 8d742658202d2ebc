// Package manifest parses and validates the manifests Berth stores: OCI image
// manifests and indexes, Docker schema 2 manifests and manifest lists.
//
// It is pure: no I/O, no store access. Parse decodes a pushed body once,
// resolves its effective media type from the body's mediaType field and the
// request's Content-Type, checks every descriptor (media type syntax, a
// sha256 or sha512 digest, a non-negative size, embedded data that matches
// both), and returns a Manifest that says which blobs and child manifests
// must exist in the repository before the manifest may be stored.
//
// Every error Parse returns is of class errdefs.ErrInvalid, except for Docker
// schema 1 manifests, which are errdefs.ErrUnsupported. Messages name the
// offending field (for example `layers[2].digest`) so a user can fix the
// manifest.
//
// Choices where the specifications leave room:
//   - A mediaType field that is present but empty counts as absent.
//   - When the Content-Type is neither a manifest type nor generic
//     (application/json, application/octet-stream, empty), the body's mediaType
//     field decides; without one the Content-Type is reported as unknown.
//   - Digests must use sha256 or sha512 (the algorithms the image-spec
//     registers and Berth can verify); other well-formed algorithms are
//     rejected rather than passed through, since Berth could never hold such a
//     blob.
//   - An image manifest whose config is the empty descriptor but which has no
//     artifactType is accepted (the image-spec says it MUST be set; rejecting
//     it would break older artifact tools for no gain).
//   - For Docker types the subject and artifactType fields are ignored, not
//     validated: the Docker formats define neither.
//   - JSON keys are matched as encoding/json matches them (case-insensitively,
//     last duplicate wins), like the other Go registries and clients.
package manifest
