<?php

declare(strict_types=1);

namespace NotifyRelay\Tests\Support;

use Illuminate\Http\Request;

/** The `auth` middleware of the test app: a request with a user passes, others get 401. */
final class StandInAuthenticate
{
    public function handle(Request $request, \Closure $next): mixed
    {
        return $request->user() === null ? new \Illuminate\Http\Response('unauthenticated', 401) : $next($request);
    }
}
