package berthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSCert is a self-signed server certificate for 127.0.0.1 and localhost,
// written as PEM files in its own directory.
type TLSCert struct {
	// CertFile and KeyFile are the certificate and its private key (PEM),
	// for `berth serve --tls-cert/--tls-key`.
	CertFile, KeyFile string
	// CAFile is the certificate again, named ca.crt, for clients told to
	// trust a CA file.
	CAFile string
	// Dir holds the files. It contains no *.key or *.cert file, so clients
	// that scan a certificate directory (skopeo --dest-cert-dir) find only
	// ca.crt and do not look for a client certificate.
	Dir string
	// Pool trusts the certificate.
	Pool *x509.CertPool
}

// NewTLSCert generates a self-signed ECDSA certificate valid for
// 127.0.0.1, ::1 and localhost, from an hour ago for a day, in a fresh
// t.TempDir(). It is its own CA, so trusting it as a root is enough.
func NewTLSCert(t testing.TB) *TLSCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "berth test registry", Organization: []string{"Berth tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	dir := t.TempDir()
	c := &TLSCert{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		CAFile:   filepath.Join(dir, "ca.crt"),
		Dir:      dir,
		Pool:     x509.NewCertPool(),
	}
	c.Pool.AddCert(cert)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for path, data := range map[string][]byte{
		c.CertFile: certPEM,
		c.CAFile:   certPEM,
		c.KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	return c
}
