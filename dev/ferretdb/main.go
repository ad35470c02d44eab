// Command ferretdb runs FerretDB v1 embedded, because the upstream binary built by
// `go install` panics at start (its version.txt is not in the module zip, FerretDB issue #2982).
// It speaks the MongoDB wire protocol on a TCP address and stores data in PostgreSQL (the default,
// through -postgresql-url) or, with -handler sqlite, in SQLite files under -data-dir. With
// -also-listen it forwards a second address to the first: FerretDB v1 listens on one TCP address,
// and a local cluster's pods reach this machine at another than 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	alsoListen := flag.String("also-listen", "", "another TCP address, forwarded to -listen")
	handler := flag.String("handler", "postgresql", "storage: postgresql or sqlite")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL database (created when missing); for -handler postgresql")
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases; for -handler sqlite")
	poolMaxConns := flag.Int("pool-max-conns", 0, "connections FerretDB may open to PostgreSQL (0: FerretDB's default, 50)")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()

	config := ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}, Handler: *handler}
	switch *handler {
	case "postgresql":
		if *postgresURL == "" {
			fail(2, "-postgresql-url is required with -handler postgresql")
		}
		if err := ensureDatabase(*postgresURL); err != nil {
			fail(1, "PostgreSQL database: %v", err)
		}
		config.PostgreSQLURL = *postgresURL
		if *poolMaxConns > 0 {
			// Read by FerretDB's pool only: PostgreSQL itself refuses the parameter.
			config.PostgreSQLURL = withQuery(*postgresURL, fmt.Sprintf("pool_max_conns=%d", *poolMaxConns))
		}
	case "sqlite":
		if *dataDir == "" {
			fail(2, "-data-dir is required with -handler sqlite")
		}
		dir, err := filepath.Abs(*dataDir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			fail(1, "data dir %q: %v", *dataDir, err)
		}
		config.SQLiteURL = "file:" + dir + "/"
	default:
		fail(2, "-handler must be postgresql or sqlite, not %q", *handler)
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config.Logger = logger
	f, err := ferretdb.New(&config)
	if err != nil {
		logger.Error("cannot start", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if *alsoListen != "" {
		forwarder, err := net.Listen("tcp", *alsoListen)
		if err != nil {
			logger.Error("cannot listen", "addr", *alsoListen, "error", err)
			os.Exit(1)
		}
		go forward(forwarder, *listen, logger)
		go func() { <-ctx.Done(); forwarder.Close() }()
		logger.Info("forwarding", "from", *alsoListen, "to", *listen)
	}

	logger.Info("ferretdb listening", "addr", *listen, "handler", *handler)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		logger.Error("stopped with error", "error", err)
		os.Exit(1)
	}
	logger.Info("ferretdb stopped")
}

// forward relays every connection accepted on listener to the address to, until the listener closes.
func forward(listener net.Listener, to string, logger *slog.Logger) {
	for {
		client, err := listener.Accept()
		if err != nil {
			return
		}
		go func() {
			defer client.Close()
			server, err := net.Dial("tcp", to)
			if err != nil {
				logger.Warn("forwarding", "to", to, "error", err)
				return
			}
			defer server.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(server, client)
				server.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(client, server)
			client.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferretdb: "+format+"\n", args...)
	os.Exit(code)
}

// ensureDatabase creates the database the URL names unless it exists, so that tests can give each
// private FerretDB instance a database of its own on the one PostgreSQL server.
func ensureDatabase(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	config, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := config.Database
	config.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another instance
		return nil
	}
	return err
}

// withQuery adds a query parameter to a URL that may have some already.
func withQuery(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}
