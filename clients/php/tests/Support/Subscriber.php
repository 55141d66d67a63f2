<?php

declare(strict_types=1);

namespace NotifyRelay\Tests\Support;

use NotifyRelay\Tokens;

/**
 * A user reading their notifications over /poll with a cursor, as the browser client does when
 * it falls back to long-poll: whatever is published after construction is seen, once, in order.
 */
final class Subscriber
{
    private string $cursor;
    public readonly string $token;

    /** @param ?string $token the token to read with; default: one minted for `$user` */
    public function __construct(private readonly Stack $stack, public readonly string|int $user, ?string $token = null)
    {
        $this->token = $token ?? Tokens::issue(Stack::JWT_SECRET, $user, 300);
        $this->cursor = $this->poll(null, 0)['cursor'];
    }

    /**
     * The events published since the last call: waits up to `$timeoutSecs` for the first one.
     *
     * @return list<array{id: string, event: ?string, data: array<string, mixed>}>
     */
    public function next(int $timeoutSecs = 5): array
    {
        $answer = $this->poll($this->cursor, $timeoutSecs);
        $this->cursor = $answer['cursor'];
        return $answer['events'];
    }

    /** @return array<string, mixed> */
    public function poll(?string $cursor, int $timeoutSecs): array
    {
        $query = http_build_query(array_filter(['cursor' => $cursor, 'timeout' => $cursor ? $timeoutSecs : null]));
        $ctx = stream_context_create(['http' => [
            'header' => "Authorization: Bearer {$this->token}\r\n",
            'timeout' => $timeoutSecs + 5,
            'ignore_errors' => true,
        ]]);
        $body = file_get_contents($this->stack->url() . '/poll' . ($query ? "?$query" : ''), false, $ctx);
        $answer = json_decode((string) $body, true);
        if (!is_array($answer) || !isset($answer['cursor'])) {
            throw new \RuntimeException("poll failed: $body");
        }
        return $answer;
    }
}
