// A reimplementation of the Go server of the 12306 ticket article, the reference seckill is
// compared with (npm run bench -- --go-reference). Its design, as the article describes it:
//
//   - each node sells from a local in-memory stock (LocalInStock, 150 in the article);
//   - a sale that passes the local stock is confirmed against the unified stock in Redis with
//     one Lua script on a hash (total and sold fields);
//   - one request at a time holds the critical section (the article's `done` channel);
//   - every answer appends one line to ./stat.log;
//   - GET /buy/ticket answers {"code":1,"msg":"抢票成功"} or {"code":-1,"msg":"已售罄"}.
//
// Differences, each in the reference's favour or neutral: the Redis connection is taken from
// the pool only when the local stock allows a sale and is always returned; the Lua script
// compares sold < total (the article's >= lets Redis sell one unit more than the total).
//
// Build (Debian's golang-go and golang-github-gomodule-redigo-dev, no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o dist/go-reference ./bench/go-reference
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// The unified stock: KEYS[1] the hash, ARGV[1] its total field, ARGV[2] its sold field.
const deductScript = `
local total = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
local sold = tonumber(redis.call('HGET', KEYS[1], ARGV[2]))
if total ~= nil and sold ~= nil and sold < total then
  return redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
end
return 0
`

type localSpike struct {
	inStock     int64
	salesVolume int64
}

// deduct takes one unit of the local stock; false when it is gone.
func (l *localSpike) deduct() bool {
	l.salesVolume++
	return l.salesVolume <= l.inStock
}

type remoteSpike struct {
	hashKey  string
	totalKey string
	soldKey  string
	script   *redis.Script
}

func (r *remoteSpike) deduct(conn redis.Conn) bool {
	n, err := redis.Int(r.script.Do(conn, r.hashKey, r.totalKey, r.soldKey))
	return err == nil && n != 0
}

type answer struct {
	Code int         `json:"code"`
	Msg  string      `json:"msg"`
	Data interface{} `json:"data"`
}

func main() {
	host := flag.String("host", "", "address to listen on (empty: all)")
	port := flag.Int("port", 3005, "HTTP port")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	key := flag.String("key", "ticket_hash_key", "the Redis hash of the unified stock")
	localStock := flag.Int64("local-stock", 150, "this node's local stock")
	total := flag.Int64("total", 10000, "unified stock written to Redis at start (0: leave the hash as it is)")
	logPath := flag.String("log", "./stat.log", "the per-request log the article writes (empty: none)")
	flag.Parse()

	pool := &redis.Pool{
		MaxIdle:     1000,
		MaxActive:   1000,
		Wait:        true,
		IdleTimeout: 240 * time.Second,
		Dial:        func() (redis.Conn, error) { return redis.Dial("tcp", *redisAddr) },
	}
	remote := &remoteSpike{*key, "ticket_total_nums", "ticket_sold_nums", redis.NewScript(1, deductScript)}
	if *total > 0 {
		conn := pool.Get()
		_, err := conn.Do("HSET", *key, remote.totalKey, *total, remote.soldKey, 0)
		conn.Close()
		if err != nil {
			log.Fatalf("go-reference: Redis at %s: %v", *redisAddr, err)
		}
	}
	local := &localSpike{inStock: *localStock}

	var statLog *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatalf("go-reference: %v", err)
		}
		statLog = f
	}

	done := make(chan int, 1)
	done <- 1
	won, _ := json.Marshal(answer{1, "抢票成功", nil})
	refused, _ := json.Marshal(answer{-1, "已售罄", nil})

	http.HandleFunc("/buy/ticket", func(w http.ResponseWriter, r *http.Request) {
		var line string
		<-done
		ok := local.deduct()
		if ok {
			conn := pool.Get()
			ok = remote.deduct(conn)
			conn.Close()
		}
		if ok {
			line = "result:1,localSales:" + strconv.FormatInt(local.salesVolume, 10)
		} else {
			line = "result:0,localSales:" + strconv.FormatInt(local.salesVolume, 10)
		}
		done <- 1
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if ok {
			w.Write(won)
		} else {
			w.Write(refused)
		}
		if statLog != nil {
			statLog.WriteString(line + "\n")
		}
	})
	// Bind before saying so: whoever waits for the line may connect at once.
	addr := fmt.Sprintf("%s:%d", *host, *port)
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("go-reference: %v", err)
	}
	fmt.Printf("go-reference serving on %s\n", addr)
	log.Fatal(http.Serve(listener, nil))
}
