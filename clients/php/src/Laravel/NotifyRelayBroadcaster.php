<?php

declare(strict_types=1);

namespace NotifyRelay\Laravel;

use Illuminate\Broadcasting\Broadcasters\Broadcaster;
use NotifyRelay\Client;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * The `notify-relay` broadcaster driver: `broadcast(new ImageReady($image))` and ShouldBroadcast
 * events are published to the relay.
 *
 * A channel whose name (without `private-` / `presence-` / `private-encrypted-`) matches one of
 * the user channel patterns, `App.Models.User.{id}` by default, names that user; any other
 * channel names a topic of the same name. The event name becomes the SSE event name (use
 * `broadcastAs()` for a short one) and the payload is the data subscribers receive. Users are
 * published in one message together with the first topic; each further topic is its own
 * message, so a user subscribed to two of the topics gets the event twice.
 *
 * Browsers do not authenticate channels here: they hold a relay token for their own user (see
 * TokenController), so auth() only answers for the user channels of the logged-in user.
 */
class NotifyRelayBroadcaster extends Broadcaster
{
    /** @var list<string> */
    private readonly array $userChannels;

    /**
     * @param list<string> $userChannels channel patterns with one `{...}` for the user id
     * @param ?string $fallback `email`: events nobody saw live fall back to email
     */
    public function __construct(
        private readonly Client $client,
        array $userChannels = ['App.Models.User.{id}'],
        private readonly ?string $fallback = null,
    ) {
        $this->userChannels = array_values($userChannels);
    }

    /**
     * The relay messages one broadcast becomes (exposed so apps can see the mapping).
     *
     * @param array<int, mixed> $channels
     * @param array<string, mixed> $payload
     * @return list<array<string, mixed>>
     */
    public function messages(array $channels, string $event, array $payload): array
    {
        unset($payload['socket']); // Pusher's sender exclusion; the relay has `exclude` instead
        $users = [];
        $topics = [];
        foreach ($this->formatChannels($channels) as $channel) {
            $name = $this->withoutPrefix($channel);
            $user = $this->userOf($name);
            if ($user !== null) {
                $users[$user] = true;
            } else {
                $topics[$name] = true;
            }
        }
        $routing = ['event' => $event] + ($this->fallback !== null ? ['fallback' => $this->fallback] : []);
        $messages = [];
        $first = $users === [] ? [] : ['user_ids' => array_map('strval', array_keys($users))];
        foreach (array_keys($topics) as $topic) {
            $messages[] = $first + ['topic' => (string) $topic] + $routing + $payload;
            $first = [];
        }
        if ($first !== []) {
            $messages[] = $first + $routing + $payload;
        }
        return $messages;
    }

    /**
     * @param array<int, mixed> $channels
     * @param string $event
     * @param array<string, mixed> $payload
     */
    public function broadcast(array $channels, $event, array $payload = [])
    {
        foreach ($this->messages($channels, (string) $event, $payload) as $message) {
            $this->client->publish($message);
        }
    }

    /**
     * Channel authentication for Echo-style clients: a user channel is granted to its own user
     * only; the relay's own tokens are what actually protects delivery.
     *
     * @param \Illuminate\Http\Request $request
     */
    public function auth($request)
    {
        $name = $this->withoutPrefix((string) $request->input('channel_name'));
        $user = $request->user();
        $id = $this->userOf($name);
        if ($user === null || $id === null || $id !== (string) $user->getAuthIdentifier()) {
            // What Laravel's broadcasters throw: the framework answers it with a 403.
            throw new AccessDeniedHttpException("not your channel: $name");
        }
        return $this->validAuthenticationResponse($request, true);
    }

    /** @param \Illuminate\Http\Request $request */
    public function validAuthenticationResponse($request, $result)
    {
        return json_encode(['granted' => (bool) $result]);
    }

    /** The user a (normalized) channel name is the private channel of, if any. */
    public function userOf(string $channel): ?string
    {
        foreach ($this->userChannels as $pattern) {
            $regex = '/^' . preg_replace('/\\\\\{[^}]*\\\\\}/', '(.+)', preg_quote($pattern, '/')) . '$/';
            if (preg_match($regex, $channel, $m)) {
                return $m[1];
            }
        }
        return null;
    }

    private function withoutPrefix(string $channel): string
    {
        foreach (['private-encrypted-', 'private-', 'presence-'] as $prefix) {
            if (str_starts_with($channel, $prefix)) {
                return substr($channel, strlen($prefix));
            }
        }
        return $channel;
    }
}
