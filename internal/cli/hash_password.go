/*
Copyright 2026 The tollgate Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// DefaultBcryptCost is the cost of `tollgate hash-password` unless --cost says otherwise.
const DefaultBcryptCost = 12

// maxPasswordBytes is bcrypt's limit: it ignores (x/crypto refuses) anything longer.
const maxPasswordBytes = 72

func newHashPasswordCommand(streams genericiooptions.IOStreams) *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its bcrypt hash for a users file",
		Long: `Read a password on standard input and print its bcrypt hash, the passwordHash of
a users file entry. On a terminal the password is asked for twice and not echoed;
otherwise the first line of standard input is the password.`,
		Example: `  tollgate hash-password
  printf '%s' "$PASSWORD" | tollgate hash-password --cost 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return fmt.Errorf("--cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
			}
			password, err := readPassword(streams)
			if err != nil {
				return err
			}
			hash, err := bcrypt.GenerateFromPassword(password, cost)
			if err != nil {
				return fmt.Errorf("hashing: %w", err)
			}
			_, err = fmt.Fprintf(streams.Out, "%s\n", hash)
			return err
		},
	}
	cmd.Flags().IntVar(&cost, "cost", DefaultBcryptCost, "bcrypt cost (each step doubles the work of a login)")
	return cmd
}

func readPassword(streams genericiooptions.IOStreams) ([]byte, error) {
	var password []byte
	if f, ok := streams.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(streams.ErrOut, "Password: ")
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(streams.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprint(streams.ErrOut, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(streams.ErrOut)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		if string(p) != string(again) {
			return nil, errors.New("the passwords differ")
		}
		password = p
	} else {
		line, err := bufio.NewReaderSize(io.LimitReader(streams.In, 4096), 4096).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		password = []byte(strings.TrimRight(line, "\r\n"))
	}
	switch {
	case len(password) == 0:
		return nil, errors.New("empty password")
	case len(password) > maxPasswordBytes:
		return nil, fmt.Errorf("the password is %d bytes; bcrypt takes at most %d", len(password), maxPasswordBytes)
	}
	return password, nil
}
