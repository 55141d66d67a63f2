<?php

declare(strict_types=1);

namespace NotifyRelay\Laravel;

use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Notifications\ChannelManager;
use Illuminate\Support\ServiceProvider;
use NotifyRelay\Client;

/**
 * Registers the Client (from `config('services.notify-relay')`), the `notify-relay` broadcaster
 * driver, the `notify-relay` notification channel and the TokenController. Composer's Laravel
 * package discovery loads it.
 *
 * config/services.php: `'notify-relay' => ['url' => env('NOTIFY_URL'), 'key' =>
 * env('NOTIFY_PUBLISH_KEY'), 'jwt_secret' => env('NOTIFY_JWT_SECRET'), 'token_ttl' => 3600,
 * 'options' => [...Client options]]`. A broadcasting connection may override `url`, `key`,
 * and set `user_channels` and `fallback`.
 */
class NotifyRelayServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        $this->app->singleton(Client::class, fn ($app) => self::client(self::services($app)));
        $this->app->singleton(NotifyRelayChannel::class, fn ($app) => new NotifyRelayChannel($app->make(Client::class)));
        $this->app->bind(TokenController::class, fn ($app) => new TokenController(self::services($app)));
    }

    public function boot(): void
    {
        $this->callAfterResolving(BroadcastManager::class, function (BroadcastManager $broadcast): void {
            $broadcast->extend('notify-relay', function ($app, array $config) {
                $services = self::services($app);
                $client = isset($config['url']) || isset($config['key'])
                    ? self::client($config + $services)
                    : $app->make(Client::class);
                return new NotifyRelayBroadcaster(
                    $client,
                    $config['user_channels'] ?? ['App.Models.User.{id}'],
                    $config['fallback'] ?? null,
                );
            });
        });
        $this->callAfterResolving(ChannelManager::class, function (ChannelManager $channels): void {
            $channels->extend('notify-relay', fn ($app) => $app->make(NotifyRelayChannel::class));
        });
    }

    /** @return array<string, mixed> */
    private static function services($app): array
    {
        return (array) ($app['config']['services.notify-relay'] ?? []);
    }

    /** @param array<string, mixed> $config */
    private static function client(array $config): Client
    {
        if (empty($config['url']) || empty($config['key'])) {
            throw new \InvalidArgumentException('notify-relay needs services.notify-relay.url and .key (NOTIFY_URL, NOTIFY_PUBLISH_KEY)');
        }
        return new Client((string) $config['url'], (string) $config['key'], (array) ($config['options'] ?? []));
    }
}
