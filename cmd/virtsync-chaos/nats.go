package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer is a NATS with JetStream that the harness controls: the
// "external" NATS of a scenario, stopped and started again on the same
// port and store to play an outage, and the reader of a store that an
// embedded virtsync NATS left behind.
type natsServer struct {
	srv   *server.Server
	url   string
	store string
	port  int
}

func startNATS(store string, port int) (*natsServer, error) {
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	srv, err := server.NewServer(&server.Options{ServerName: "chaos", Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("start NATS: not ready after 10s")
	}
	return &natsServer{srv: srv, url: fmt.Sprintf("nats://127.0.0.1:%d", port), store: store, port: port}, nil
}

func (n *natsServer) shutdown() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// restart starts the server again on its port and store.
func (n *natsServer) restart() error {
	m, err := startNATS(n.store, n.port)
	if err != nil {
		return err
	}
	n.srv = m.srv
	return nil
}

// event is what the checks need of one message on the stream.
type event struct {
	ID    string          `json:"id"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	MsgID string          `json:"-"`
}

// readStream returns every message of stream, in order.
func readStream(url, stream string) ([]event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", seq, err)
		}
		var e event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return nil, fmt.Errorf("message %d is not a CloudEvents envelope: %w", seq, err)
		}
		e.MsgID = m.Header.Get(nats.MsgIdHdr)
		out = append(out, e)
	}
	return out, nil
}
