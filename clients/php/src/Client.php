<?php

declare(strict_types=1);

namespace NotifyRelay;

/**
 * The relay's HTTP API for the app: publish, topic subscribers, contacts, presence and the
 * notification log, all with the publish key.
 *
 * Every failure is a RelayException carrying the relay's `error` code. 429 and 503 answers are
 * retried (at most `retries` times) after the answer's Retry-After, capped by
 * `max_retry_wait`. A failure to connect is retried the same way; a timeout is not, since the
 * relay may have stored a publish whose answer was lost.
 */
class Client
{
    /** Defaults of the options the constructor takes. */
    public const DEFAULTS = [
        'timeout' => 5.0,          // seconds for a whole request
        'connect_timeout' => 2.0,  // seconds to connect
        'retries' => 2,            // retries after a 429/503 or a failed connect
        'max_retry_wait' => 5.0,   // longest wait honoured from a Retry-After, in seconds
        'retry_wait' => 0.2,       // wait before retrying when there is no Retry-After
        'user_agent' => 'notify-relay-php',
    ];

    /** RelayException code of a request that never reached the relay (safe to retry). */
    private const NOT_CONNECTED = -1;

    private readonly string $baseUrl;
    /** @var array<string, mixed> */
    private readonly array $options;
    /** @var \Closure(float): void */
    private \Closure $sleep;
    /** One curl handle for the client's life, so that its requests share a kept-alive connection. */
    private ?\CurlHandle $curl = null;

    /**
     * @param string $baseUrl    where the relay is, e.g. `http://notify:8080`
     * @param string $publishKey the relay's --publish-key
     * @param array<string, mixed> $options see DEFAULTS
     */
    public function __construct(string $baseUrl, private readonly string $publishKey, array $options = [])
    {
        $unknown = array_diff_key($options, self::DEFAULTS);
        if ($unknown !== []) {
            throw new \InvalidArgumentException('unknown option(s): ' . implode(', ', array_keys($unknown)));
        }
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->options = $options + self::DEFAULTS;
        $this->sleep = static function (float $seconds): void {
            usleep((int) round($seconds * 1_000_000));
        };
    }

    /**
     * Publishes one message: `user_id`, `user_ids` and/or `topic`, optionally `event`, `exclude`,
     * `fallback` ("email"), and the data subscribers receive.
     *
     * @param array<string, mixed> $event
     * @return array{id: ?string, recipients: int} the 202 body; `id` is null when nobody was named
     */
    public function publish(array $event): array
    {
        return $this->request('POST', '/publish', $event);
    }

    /**
     * Publishes `$data` to one user or several.
     *
     * @param string|int|list<string|int> $users
     * @param array<string, mixed> $data    what subscribers receive
     * @param array{event?: string, exclude?: list<string|int>, fallback?: string, topic?: string} $options
     * @return array{id: ?string, recipients: int}
     */
    public function publishToUsers(string|int|array $users, array $data, array $options = []): array
    {
        $target = is_array($users) ? ['user_ids' => array_values($users)] : ['user_id' => $users];
        return $this->publish($target + $options + $data);
    }

    /**
     * Publishes `$data` to a topic's subscribers.
     *
     * @param array<string, mixed> $data
     * @param array{event?: string, exclude?: list<string|int>, fallback?: string} $options
     * @return array{id: ?string, recipients: int}
     */
    public function publishToTopic(string $topic, array $data, array $options = []): array
    {
        return $this->publish(['topic' => $topic] + $options + $data);
    }

    /**
     * Adds a user to a topic.
     *
     * @return array{topic: string, user: string, added: bool} added is false when already there
     */
    public function subscribe(string $topic, string|int $user): array
    {
        return $this->request('PUT', '/topics/' . self::seg($topic) . '/subscribers/' . self::seg((string) $user));
    }

    /**
     * Removes a user from a topic.
     *
     * @return array{topic: string, user: string, removed: bool}
     */
    public function unsubscribe(string $topic, string|int $user): array
    {
        return $this->request('DELETE', '/topics/' . self::seg($topic) . '/subscribers/' . self::seg((string) $user));
    }

    /**
     * Replaces a topic's whole subscriber set in one step (an empty list empties it).
     *
     * @param list<string|int> $users
     * @return array{topic: string, count: int}
     */
    public function replaceSubscribers(string $topic, array $users): array
    {
        return $this->request('PUT', '/topics/' . self::seg($topic) . '/subscribers', [
            'subscribers' => array_map('strval', array_values($users)),
        ]);
    }

    /**
     * One page of a topic's subscribers, in byte order; pass `next` as `$after` for the next one.
     *
     * @return array{topic: string, subscribers: list<string>, next: ?string}
     */
    public function subscribers(string $topic, int $limit = 100, ?string $after = null): array
    {
        return $this->request('GET', '/topics/' . self::seg($topic) . '/subscribers', null,
            ['limit' => $limit, 'after' => $after]);
    }

    /**
     * Every subscriber of a topic, page by page.
     *
     * @return \Generator<int, string>
     */
    public function allSubscribers(string $topic, int $pageSize = 500): \Generator
    {
        $after = null;
        do {
            $page = $this->subscribers($topic, $pageSize, $after);
            yield from $page['subscribers'];
            $after = $page['next'];
        } while ($after !== null);
    }

    /**
     * Registers the user's address for email fallback (needs the relay's Redis broker).
     *
     * @return array{user: string, contact: array{email: string, email_fallback: bool}}
     */
    public function putContact(string|int $user, string $email, bool $emailFallback = true): array
    {
        return $this->request('PUT', '/users/' . self::seg((string) $user) . '/contact',
            ['email' => $email, 'email_fallback' => $emailFallback]);
    }

    /**
     * The user's contact, or null when there is none.
     *
     * @return ?array{email: string, email_fallback: bool}
     */
    public function getContact(string|int $user): ?array
    {
        try {
            return $this->request('GET', '/users/' . self::seg((string) $user) . '/contact')['contact'];
        } catch (RelayException $e) {
            if ($e->getStatus() === 404) {
                return null;
            }
            throw $e;
        }
    }

    /**
     * Removes the user's contact: no more email for them.
     *
     * @return array{user: string, removed: bool}
     */
    public function deleteContact(string|int $user): array
    {
        return $this->request('DELETE', '/users/' . self::seg((string) $user) . '/contact');
    }

    /**
     * Whether the user has a live connection on any instance.
     *
     * @return array{online: bool, connections: int}
     */
    public function presence(string|int $user): array
    {
        return $this->request('GET', '/presence/' . self::seg((string) $user));
    }

    /**
     * The notification log (email fallback), newest first.
     *
     * @param array{user?: string|int, status?: string, limit?: int} $query
     * @return list<array<string, mixed>>
     */
    public function notifications(array $query = []): array
    {
        return $this->request('GET', '/notifications', null, $query)['notifications'];
    }

    /**
     * Replaces the pause between retries (tests use it to record the waits instead of sleeping).
     *
     * @param \Closure(float): void $sleep
     */
    public function setSleeper(\Closure $sleep): void
    {
        $this->sleep = $sleep;
    }

    /**
     * Sends one request to the relay and returns its decoded JSON body.
     *
     * @param ?array<string, mixed> $body
     * @param array<string, scalar|null> $query
     * @return array<string, mixed>
     */
    public function request(string $method, string $path, ?array $body = null, array $query = []): array
    {
        $query = array_filter($query, static fn ($v) => $v !== null);
        $url = $this->baseUrl . $path . ($query === [] ? '' : '?' . http_build_query($query));
        $json = $body === null ? null : json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        for ($attempt = 0; ; $attempt++) {
            try {
                return $this->once($method, $url, $json);
            } catch (RelayException $e) {
                $retriable = in_array($e->getStatus(), [429, 503], true)
                    || ($e->getStatus() === 0 && $e->getCode() === self::NOT_CONNECTED);
                if (!$retriable || $attempt >= $this->options['retries']) {
                    throw $e;
                }
                $wait = $e->getRetryAfter() ?? (float) $this->options['retry_wait'];
                ($this->sleep)(min((float) $wait, (float) $this->options['max_retry_wait']));
            }
        }
    }

    /** @return array<string, mixed> */
    private function once(string $method, string $url, ?string $json): array
    {
        $retryAfter = null;
        $ch = $this->curl ??= curl_init();
        curl_reset($ch);
        $headers = ['Authorization: Bearer ' . $this->publishKey, 'Accept: application/json'];
        if ($json !== null) {
            $headers[] = 'Content-Type: application/json';
        }
        curl_setopt_array($ch, [
            CURLOPT_URL => $url,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_NOSIGNAL => true, // timeouts under a second without SIGALRM
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_USERAGENT => (string) $this->options['user_agent'],
            CURLOPT_TIMEOUT_MS => (int) ($this->options['timeout'] * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ($this->options['connect_timeout'] * 1000),
            CURLOPT_HEADERFUNCTION => static function ($ch, string $line) use (&$retryAfter): int {
                if (preg_match('/^retry-after:\s*(\d+)\s*$/i', $line, $m)) {
                    $retryAfter = (int) $m[1];
                }
                return strlen($line);
            },
        ]);
        if ($json !== null) {
            curl_setopt($ch, CURLOPT_POSTFIELDS, $json);
        }
        $raw = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = curl_error($ch);
        $errno = curl_errno($ch);
        if ($raw === false) {
            $connect = in_array($errno, [CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT], true);
            throw new RelayException('network_error', "notify-relay $method $url: $error", 0, null, null,
                $connect ? self::NOT_CONNECTED : $errno);
        }
        $answer = json_decode((string) $raw, true);
        if ($status >= 400 || !is_array($answer)) {
            $code = is_array($answer) && is_string($answer['error'] ?? null) ? $answer['error'] : 'bad_answer';
            $message = is_array($answer) && is_string($answer['message'] ?? null)
                ? $answer['message'] : "unexpected answer $status from $method $url";
            throw new RelayException($code, $message, $status, $retryAfter);
        }
        return $answer;
    }

    private static function seg(string $part): string
    {
        return rawurlencode($part);
    }
}
