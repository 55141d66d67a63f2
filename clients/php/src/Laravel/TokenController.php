<?php

declare(strict_types=1);

namespace NotifyRelay\Laravel;

use Illuminate\Http\Request;
use NotifyRelay\Tokens;

/**
 * Hands the logged-in user a relay token for the page (register it behind the `auth`
 * middleware): `Route::get('/notify-relay/token', TokenController::class)->middleware('auth')`.
 * The browser client calls it on every (re)connect: `token: () => fetch(url).then(r => r.text())`.
 */
class TokenController
{
    /** @param array{jwt_secret?: string, token_ttl?: int, claims?: array<string, mixed>} $config */
    public function __construct(private readonly array $config)
    {
    }

    /** The token as text/plain, 401 without a logged-in user. */
    public function __invoke(Request $request): \Illuminate\Http\Response
    {
        $user = $request->user();
        if ($user === null) {
            return new \Illuminate\Http\Response('not logged in', 401, ['Content-Type' => 'text/plain']);
        }
        return new \Illuminate\Http\Response($this->tokenFor($user->getAuthIdentifier()), 200, [
            'Content-Type' => 'text/plain',
            'Cache-Control' => 'no-store',
        ]);
    }

    /** A relay token for that user id, with the configured lifetime and claims. */
    public function tokenFor(string|int $userId): string
    {
        $secret = (string) ($this->config['jwt_secret'] ?? '');
        return Tokens::issue($secret, $userId, (int) ($this->config['token_ttl'] ?? 3600), $this->config['claims'] ?? []);
    }
}
