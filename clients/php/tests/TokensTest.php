<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use NotifyRelay\Tokens;
use PHPUnit\Framework\TestCase;

/** Subscriber tokens: the bytes firebase/php-jwt would produce, and what the relay accepts. */
final class TokensTest extends TestCase
{
    /**
     * Computed independently of this package, with Python's hmac, hashlib, base64 and json
     * (compact separators, ASCII escapes, slashes unescaped: what php-jwt's JWT::encode emits):
     *
     *   head = {"typ":"JWT","alg":"HS256"}
     *   body = {"sub":"42","exp":1800000000,"iss":"https://app.example/","aud":"notify-relay","name":"Zo\u00e9"}
     *   b64url(head) . "." . b64url(body) . "." . b64url(hmac_sha256(secret, those two))
     */
    private const VECTOR = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.'
        . 'eyJzdWIiOiI0MiIsImV4cCI6MTgwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly9hcHAuZXhhbXBsZS8iLCJhdWQiOiJub3RpZnktcmVsYXkiLCJuYW1lIjoiWm9cdTAwZTkifQ.'
        . 'NW8s-5caRrdBYdMYJgKlqutKHlb2iVHrGfNnMoU0CqU';

    public function test_encode_gives_the_same_bytes_as_an_independent_hs256_implementation(): void
    {
        $token = Tokens::encode(
            ['sub' => '42', 'exp' => 1800000000, 'iss' => 'https://app.example/', 'aud' => 'notify-relay', 'name' => 'Zoé'],
            'php-jwt-vector-secret',
        );
        $this->assertSame(self::VECTOR, $token);
    }

    public function test_issue_puts_the_user_as_a_string_sub_then_exp_then_the_extra_claims(): void
    {
        $before = time();
        [, $body] = explode('.', Tokens::issue('s', 42, 3600, ['iss' => 'app', 'aud' => 'notify-relay']));
        $claims = json_decode(base64_decode(strtr($body, '-_', '+/')), true);

        $this->assertSame(['sub', 'exp', 'iss', 'aud'], array_keys($claims));
        $this->assertSame('42', $claims['sub']);
        $this->assertGreaterThanOrEqual($before + 3600, $claims['exp']);
        $this->assertLessThanOrEqual(time() + 3600, $claims['exp']);
    }

    public function test_the_relay_accepts_an_issued_token_as_that_user(): void
    {
        $stack = Stack::shared();
        $ann = new Subscriber($stack, 'token-ann');
        (new \NotifyRelay\Client($stack->url(), Stack::PUBLISH_KEY))->publish(['user_id' => 'token-ann', 'k' => 1]);
        $this->assertSame([1], array_map(fn ($e) => $e['data']['k'], $ann->next()));
    }

    public function test_the_relay_refuses_an_expired_token_and_one_signed_with_another_secret(): void
    {
        $this->assertSame([401, 'token_expired'], self::pollWith(Tokens::issue(Stack::JWT_SECRET, 1, -5)));
        $this->assertSame([401, 'unauthorized'], self::pollWith(Tokens::issue('another secret', 1, 60)));
    }

    public function test_sub_and_exp_cannot_be_overridden_through_claims(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        Tokens::issue('s', 1, 60, ['sub' => '2']);
    }

    /** @return array{int, ?string} */
    private static function pollWith(string $token): array
    {
        $ctx = stream_context_create(['http' => ['header' => "Authorization: Bearer $token\r\n", 'ignore_errors' => true]]);
        $body = file_get_contents(Stack::shared()->url() . '/poll', false, $ctx);
        preg_match('{^HTTP/\S+ (\d+)}', $http_response_header[0], $m);
        return [(int) $m[1], json_decode((string) $body, true)['error'] ?? null];
    }
}
