package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// credentials is what `berth login` stores: a secret per server and the
// server the other commands talk to by default.
type credentials struct {
	// Current is the server of the last login.
	Current string `json:"current,omitempty"`
	// Servers maps a server's base URL to its login.
	Servers map[string]login `json:"servers"`
}

// login is one server's stored login.
type login struct {
	Username string `json:"username"`
	Secret   string `json:"secret"`
}

// credentialsPath returns where logins are kept: $BERTH_CONFIG_DIR, else
// $XDG_CONFIG_HOME/berth, else ~/.config/berth, + credentials.json.
func credentialsPath() (string, error) {
	dir := os.Getenv("BERTH_CONFIG_DIR")
	if dir == "" {
		base := os.Getenv("XDG_CONFIG_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("find the credentials file: %w (set BERTH_CONFIG_DIR)", err)
			}
			base = filepath.Join(home, ".config")
		}
		dir = filepath.Join(base, "berth")
	}
	return filepath.Join(dir, "credentials.json"), nil
}

// loadCredentials reads the stored logins; a missing file is no logins.
func loadCredentials() (*credentials, error) {
	path, err := credentialsPath()
	if err != nil {
		return nil, err
	}
	c := &credentials{Servers: map[string]login{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("read credentials %s: %w (log in again, or remove the file)", path, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]login{}
	}
	return c, nil
}

// save writes c readable by the owner only (file 0600, directory 0700),
// replacing the file atomically.
func (c *credentials) save() error {
	path, err := credentialsPath()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.json")
	if err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, removes nothing
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("store credentials: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store credentials: %w", err)
	}
	return nil
}
