<?php

declare(strict_types=1);

namespace NotifyRelay;

/**
 * Subscriber tokens: HS256 JWTs whose `sub` is the user id and whose `exp` the relay checks.
 *
 * The output is byte for byte what firebase/php-jwt's `JWT::encode($payload, $secret, 'HS256')`
 * gives for the same payload array (header `{"typ":"JWT","alg":"HS256"}`, JSON with unescaped
 * slashes, unpadded base64url), so either library can mint the tokens of one deployment.
 */
final class Tokens
{
    /**
     * A token for `$user`, valid `$ttlSeconds` from now.
     *
     * The payload is `sub` (the user id as a string), `exp`, then `$claims` in their order: add
     * `iss`/`aud` when the relay checks them, or `iat`/`nbf`.
     *
     * @param array<string, mixed> $claims
     */
    public static function issue(string $secret, string|int $user, int $ttlSeconds, array $claims = []): string
    {
        if ($secret === '') {
            throw new \InvalidArgumentException('the secret is empty: pass the relay\'s --jwt-secret');
        }
        if (isset($claims['sub']) || isset($claims['exp'])) {
            throw new \InvalidArgumentException('sub and exp come from $user and $ttlSeconds, not $claims');
        }
        return self::encode(['sub' => (string) $user, 'exp' => time() + $ttlSeconds] + $claims, $secret);
    }

    /**
     * Signs any payload with HS256, as firebase/php-jwt does.
     *
     * @param array<string, mixed> $payload
     */
    public static function encode(array $payload, string $secret): string
    {
        $head = self::b64(self::json(['typ' => 'JWT', 'alg' => 'HS256']));
        $body = self::b64(self::json($payload));
        return "$head.$body." . self::b64(hash_hmac('sha256', "$head.$body", $secret, true));
    }

    /** @param array<string, mixed> $value */
    private static function json(array $value): string
    {
        return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    }

    private static function b64(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }
}
