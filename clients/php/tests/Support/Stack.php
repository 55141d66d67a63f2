<?php

declare(strict_types=1);

namespace NotifyRelay\Tests\Support;

/**
 * A real redis-server and the real relay binary on free ports, for the tests; stop() (also run
 * at shutdown) kills both by pid.
 */
final class Stack
{
    public const JWT_SECRET = 'php-sdk-test-secret';
    public const PUBLISH_KEY = 'php-sdk-test-publish-key';

    private static ?Stack $shared = null;

    /** @var array<string, resource> */
    private array $procs = [];
    /** @var array<string, string> */
    private array $logs = [];
    public readonly string $dir;
    public int $redisPort = 0;
    public int $relayPort = 0;

    /** @param list<string> $relayArgs extra relay flags */
    public function __construct(private readonly array $relayArgs = [])
    {
        $this->dir = sys_get_temp_dir() . '/notify-php-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        register_shutdown_function([$this, 'stop']);
    }

    /** The stack most tests share, started on first use. */
    public static function shared(): self
    {
        return self::$shared ??= (new self())->start();
    }

    public function start(): self
    {
        $bin = self::relayBinary();
        if (!is_executable($bin)) {
            throw new \RuntimeException("$bin is missing: run cargo build --bins first");
        }
        // A port found free can be taken before the server binds it (by the local end of some
        // outgoing connection, which the kernel picks from the same range): then both are
        // started again on new ports, a few times at most.
        for ($attempt = 1; ; $attempt++) {
            $this->redisPort = self::freePort();
            $this->relayPort = self::freePort();
            $bound = $this->startRedisOnce() && $this->startRelayOnce($bin);
            if ($bound) {
                break;
            }
            $logs = $this->log('redis') . $this->log('relay');
            $this->stop();
            mkdir($this->dir);
            if ($attempt >= 3 || !str_contains($logs, 'Address already in use')) {
                throw new \RuntimeException("the stack did not start: $logs");
            }
        }
        // Ready over HTTP is not yet subscribed; a PUBLISH before that reaches nobody.
        $this->waitFor(function () {
            $n = $this->redis()->pubsub('numsub', ['image_update']);
            return ($n['image_update'] ?? 0) >= 1;
        }, 'relay to subscribe to image_update', 'relay');
        return $this;
    }

    /** Starts redis-server on $redisPort; false if it exited instead of listening. */
    private function startRedisOnce(): bool
    {
        $this->spawnRedis();
        return $this->upOrExited('redis', fn () => @fsockopen('127.0.0.1', $this->redisPort) !== false);
    }

    /** Starts the relay on $relayPort; false if it exited instead of answering /readyz. */
    private function startRelayOnce(string $bin): bool
    {
        $this->spawn('relay', [$bin,
            '--listen', "127.0.0.1:{$this->relayPort}",
            '--redis-url', $this->redisUrl(),
            '--jwt-secret', self::JWT_SECRET,
            '--publish-key', self::PUBLISH_KEY,
            '--workers', '2',
            ...$this->relayArgs,
        ], ['RUST_LOG' => 'warn']);
        // Bounded: whatever holds a taken port may accept and never answer.
        $once = stream_context_create(['http' => ['timeout' => 1.0]]);
        return $this->upOrExited('relay', fn () => @file_get_contents($this->url() . '/readyz', false, $once) !== false);
    }

    /** Waits until `$up` holds (true) or the process `$name` has exited (false). */
    private function upOrExited(string $name, callable $up): bool
    {
        $exited = fn () => !proc_get_status($this->procs[$name])['running'];
        $this->waitFor(fn () => $exited() || $up(), "$name to start", $name);
        return !$exited();
    }

    /** Starts redis-server again on the same port (after stopRedis()). */
    public function startRedis(): void
    {
        $this->spawnRedis();
        $this->waitFor(fn () => @fsockopen('127.0.0.1', $this->redisPort) !== false, 'redis to listen', 'redis');
    }

    private function spawnRedis(): void
    {
        $this->spawn('redis', ['redis-server', '--port', (string) $this->redisPort, '--bind', '127.0.0.1',
            '--save', '', '--appendonly', 'no', '--dir', $this->dir]);
    }

    public function stopRedis(): void
    {
        $this->kill('redis');
    }

    public function url(): string
    {
        return "http://127.0.0.1:{$this->relayPort}";
    }

    public function redisUrl(): string
    {
        return "redis://127.0.0.1:{$this->redisPort}";
    }

    /** A fresh phpredis connection to this stack's Redis. */
    public function redis(): \Redis
    {
        $r = new \Redis();
        $r->connect('127.0.0.1', $this->redisPort, 2.0);
        return $r;
    }

    /** Kills both processes and removes their directory (logs included). */
    public function stop(): void
    {
        foreach (array_keys($this->procs) as $name) {
            $this->kill($name);
        }
        if (is_dir($this->dir)) {
            exec('rm -rf ' . escapeshellarg($this->dir));
        }
    }

    /** What a process wrote, for failure messages. */
    public function log(string $name): string
    {
        $file = "{$this->dir}/$name.log";
        return is_file($file) ? (string) file_get_contents($file) : '';
    }

    /**
     * @param list<string> $argv
     * @param array<string, string> $env
     */
    private function spawn(string $name, array $argv, array $env = []): void
    {
        $log = "{$this->dir}/$name.log";
        $proc = proc_open($argv, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']],
            $pipes, null, $env + getenv());
        if (!is_resource($proc)) {
            throw new \RuntimeException("could not start $name");
        }
        $this->procs[$name] = $proc;
    }

    private function kill(string $name): void
    {
        $proc = $this->procs[$name] ?? null;
        if ($proc === null) {
            return;
        }
        unset($this->procs[$name]);
        $pid = proc_get_status($proc)['pid'];
        posix_kill($pid, SIGKILL);
        proc_close($proc);
    }

    /** Polls `$check` until it holds, or fails after 10 s with the process log. */
    public function waitFor(callable $check, string $what, ?string $logOf = null): void
    {
        $deadline = microtime(true) + 10;
        while (true) {
            try {
                if ($check()) {
                    return;
                }
            } catch (\Throwable) {
                // not yet
            }
            if (microtime(true) > $deadline) {
                throw new \RuntimeException("timed out waiting for $what" . ($logOf ? ': ' . $this->log($logOf) : ''));
            }
            usleep(20_000);
        }
    }

    public static function relayBinary(): string
    {
        return getenv('NOTIFY_RELAY_BIN') ?: dirname(__DIR__, 4) . '/target/debug/notify-relay';
    }

    private static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($s, false), ':'), 1);
        fclose($s);
        return $port;
    }
}
