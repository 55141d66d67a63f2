<?php

declare(strict_types=1);

namespace NotifyRelay\Laravel;

use Illuminate\Notifications\Notification;
use NotifyRelay\Client;

/**
 * The notification channel: a notification whose via() returns `NotifyRelayChannel::class` (or
 * `'notify-relay'`) and which has `toNotifyRelay($notifiable)` is published to the notifiable.
 *
 * The user id is `routeNotificationForNotifyRelay()` / `Notification::route('notify-relay', $id)`
 * when given, else the notifiable's key. A topic is named by routing to `['topic' => 'image:42']`.
 */
class NotifyRelayChannel
{
    public function __construct(private readonly Client $client)
    {
    }

    /**
     * @param mixed $notifiable
     * @return array{id: ?string, recipients: int}|null the relay's answer; null when not routed
     */
    public function send($notifiable, Notification $notification): ?array
    {
        $route = method_exists($notifiable, 'routeNotificationFor')
            ? $notifiable->routeNotificationFor('notify-relay', $notification)
            : null;
        $route ??= method_exists($notifiable, 'getKey') ? $notifiable->getKey() : null;
        if ($route === null || $route === []) {
            return null;
        }
        if (!method_exists($notification, 'toNotifyRelay')) {
            throw new \LogicException(get_class($notification) . ' is sent via notify-relay but has no toNotifyRelay($notifiable)');
        }
        $message = $notification->toNotifyRelay($notifiable);
        $body = $message instanceof NotifyRelayMessage ? $message->toArray() : (array) $message;
        $target = match (true) {
            is_array($route) && isset($route['topic']) => ['topic' => (string) $route['topic']],
            is_array($route) => ['user_ids' => array_map('strval', array_values($route))],
            default => ['user_id' => (string) $route],
        };
        return $this->client->publish($target + $body);
    }
}
