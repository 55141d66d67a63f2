<?php

declare(strict_types=1);

namespace NotifyRelay\Tests\Support;

use Illuminate\Broadcasting\BroadcastServiceProvider;
use Illuminate\Config\Repository;
use Illuminate\Container\Container;
use Illuminate\Events\Dispatcher;
use Illuminate\Notifications\NotificationServiceProvider;
use Illuminate\Queue\Connectors\SyncConnector;
use Illuminate\Queue\QueueManager;
use Illuminate\Routing\Router;
use Illuminate\Support\Facades\Facade;
use NotifyRelay\Laravel\NotifyRelayServiceProvider;

/**
 * The parts of a Laravel application the integration uses, assembled from Debian's Illuminate
 * components: laravel/framework's Foundation (the Application, its helpers) is not packaged, so
 * this wires the container the way Foundation's providers do and defines the few Foundation
 * helpers (app, config, event, broadcast) the way Foundation/helpers.php does.
 */
final class LaravelApp
{
    /** @param array<string, mixed> $config e.g. ['services.notify-relay' => [...]] */
    public static function boot(array $config): Container
    {
        self::defineFoundationHelpers();
        $app = new Container();
        Container::setInstance($app);
        $app->instance(Container::class, $app);
        $app->instance(\Illuminate\Contracts\Container\Container::class, $app);
        $app->instance('config', new Repository([]));
        foreach ($config + ['broadcasting.default' => 'notify-relay', 'queue.default' => 'sync',
            'queue.connections.sync' => ['driver' => 'sync']] as $key => $value) {
            $app['config']->set($key, $value);
        }
        $app->singleton('events', fn ($app) => (new Dispatcher($app))->setQueueResolver(fn () => $app['queue']));
        $app->alias('events', \Illuminate\Contracts\Events\Dispatcher::class);
        $app->singleton(\Illuminate\Bus\Dispatcher::class,
            fn ($app) => new \Illuminate\Bus\Dispatcher($app, fn ($connection = null) => $app['queue']->connection($connection)));
        $app->alias(\Illuminate\Bus\Dispatcher::class, \Illuminate\Contracts\Bus\Dispatcher::class);
        $app->alias(\Illuminate\Bus\Dispatcher::class, \Illuminate\Contracts\Bus\QueueingDispatcher::class);
        $app->singleton('queue', function ($app) {
            $queue = new QueueManager($app);
            $queue->addConnector('sync', fn () => new SyncConnector());
            return $queue;
        });
        $app->alias('queue', \Illuminate\Contracts\Queue\Factory::class);

        $app->singleton('router', fn ($app) => new Router($app['events'], $app));
        // routes/web.php sees the facade as `Route`, as Laravel's alias loader arranges.
        Facade::clearResolvedInstances();
        Facade::setFacadeApplication($app);
        if (!class_exists('Route', false)) {
            class_alias(\Illuminate\Support\Facades\Route::class, 'Route');
        }
        // The `auth` middleware stands in for Laravel's Authenticate (which needs the session
        // guard): it lets a request with a user through, and answers 401 to others.
        $app['router']->aliasMiddleware('auth', StandInAuthenticate::class);

        (new BroadcastServiceProvider($app))->register();
        (new NotificationServiceProvider($app))->register();
        $provider = new NotifyRelayServiceProvider($app);
        $provider->register();
        $provider->boot();
        return $app;
    }

    /** Handles a request as the HTTP kernel does: bound as `request`, then routed. */
    public static function handle(\Illuminate\Http\Request $request): \Symfony\Component\HttpFoundation\Response
    {
        $app = Container::getInstance();
        $app->instance('request', $request);
        $app->alias('request', \Illuminate\Http\Request::class);
        return $app['router']->dispatch($request);
    }

    /** The connection config of config/broadcasting.php for the driver. */
    public static function services(Stack $stack): array
    {
        return ['url' => $stack->url(), 'key' => Stack::PUBLISH_KEY, 'jwt_secret' => Stack::JWT_SECRET, 'token_ttl' => 600];
    }

    private static function defineFoundationHelpers(): void
    {
        if (function_exists('app')) {
            return;
        }
        eval(<<<'PHP'
            function app($abstract = null, array $parameters = []) {
                $c = \Illuminate\Container\Container::getInstance();
                return $abstract === null ? $c : $c->make($abstract, $parameters);
            }
            function config($key = null, $default = null) {
                if (is_array($key)) { app('config')->set($key); return null; }
                return $key === null ? app('config') : app('config')->get($key, $default);
            }
            function event(...$args) { return app('events')->dispatch(...$args); }
            function broadcast($event = null) { return app(\Illuminate\Contracts\Broadcasting\Factory::class)->event($event); }
            PHP);
    }
}
