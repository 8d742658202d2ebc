package berthtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
)

// manifestAccept is the Accept header of manifest requests: every manifest
// and index type the registry stores.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// HeadManifest asks for manifest ref (tag or digest) of repo with HEAD and
// returns the digest the registry reports in Docker-Content-Digest. A
// missing manifest is a *StatusError with code 404.
func (r *Registry) HeadManifest(ctx context.Context, repo, ref string) (digest.Digest, error) {
	req, err := r.request(ctx, http.MethodHead, "/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", manifestAccept)
	h, err := r.send(req, http.StatusOK)
	if err != nil {
		return "", err
	}
	d, err := digest.Parse(h.Get("Docker-Content-Digest"))
	if err != nil {
		return "", fmt.Errorf("HEAD %s: Docker-Content-Digest %q: %w", req.URL, h.Get("Docker-Content-Digest"), err)
	}
	return d, nil
}

// DeleteManifest deletes manifest ref (a digest, which also removes the
// tags naming it, or a tag, which removes only the tag) of repo and wants
// 202 Accepted.
func (r *Registry) DeleteManifest(ctx context.Context, repo, ref string) error {
	req, err := r.request(ctx, http.MethodDelete, "/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return err
	}
	_, err = r.send(req, http.StatusAccepted)
	return err
}
