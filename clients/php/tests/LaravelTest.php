<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use Illuminate\Broadcasting\Channel;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcast;
use Illuminate\Contracts\Broadcasting\ShouldBroadcastNow;
use Illuminate\Http\Request;
use Illuminate\Notifications\AnonymousNotifiable;
use Illuminate\Notifications\Notifiable;
use Illuminate\Notifications\Notification;
use NotifyRelay\Client;
use NotifyRelay\Laravel\NotifyRelayBroadcaster;
use NotifyRelay\Laravel\NotifyRelayChannel;
use NotifyRelay\Laravel\NotifyRelayMessage;
use NotifyRelay\Laravel\TokenController;
use NotifyRelay\RelayException;
use NotifyRelay\Tests\Support\LaravelApp;
use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;

/** The Laravel broadcaster, notification channel and token route, on Illuminate components. */
final class LaravelTest extends TestCase
{
    private Stack $stack;

    protected function setUp(): void
    {
        $this->stack = Stack::shared();
        LaravelApp::boot([
            'services.notify-relay' => LaravelApp::services($this->stack),
            'broadcasting.connections.notify-relay' => ['driver' => 'notify-relay'],
        ]);
    }

    public function test_broadcasting_a_should_broadcast_now_event_on_a_user_channel_reaches_that_user(): void
    {
        $ann = new Subscriber($this->stack, 'lara-1');
        broadcast(new ImageReadyNow('lara-1', '/now.jpg'));

        $events = $ann->next();
        $this->assertCount(1, $events);
        $this->assertSame('image_ready', $events[0]['event']);
        $this->assertSame('/now.jpg', $events[0]['data']['imgUrl']);
        $this->assertArrayNotHasKey('socket', $events[0]['data']);
    }

    public function test_a_queued_should_broadcast_event_goes_through_the_queue_to_the_user(): void
    {
        $ann = new Subscriber($this->stack, 'lara-2');
        event(new ImageReadyQueued('lara-2', '/queued.jpg'));

        $events = $ann->next();
        $this->assertSame(ImageReadyQueued::class, $events[0]['event'], 'without broadcastAs the class name is the event');
        $this->assertSame('/queued.jpg', $events[0]['data']['imgUrl']);
    }

    public function test_other_channels_are_topics_and_users_and_topic_go_out_in_one_message(): void
    {
        $client = app(Client::class);
        $client->replaceSubscribers('image:9', ['lara-follower']);
        $follower = new Subscriber($this->stack, 'lara-follower');
        $owner = new Subscriber($this->stack, 'lara-owner');
        broadcast(new ImageReadyNow('lara-owner', '/t.jpg', extra: [new Channel('image:9')]));

        $this->assertSame('/t.jpg', $owner->next()[0]['data']['imgUrl']);
        $this->assertSame('/t.jpg', $follower->next()[0]['data']['imgUrl']);
        $broadcaster = new NotifyRelayBroadcaster($client);
        $this->assertSame([
            ['user_ids' => ['7'], 'topic' => 'a', 'event' => 'e', 'x' => 1],
            ['topic' => 'b', 'event' => 'e', 'x' => 1],
        ], $broadcaster->messages(['private-App.Models.User.7', new Channel('a'), 'presence-b'], 'e', ['x' => 1, 'socket' => null]));
    }

    public function test_a_relay_refusal_during_broadcast_is_a_relay_exception(): void
    {
        LaravelApp::boot([
            'services.notify-relay' => ['key' => 'wrong'] + LaravelApp::services($this->stack),
            'broadcasting.connections.notify-relay' => ['driver' => 'notify-relay'],
        ]);
        try {
            broadcast(new ImageReadyNow('lara-x', '/x.jpg'));
            // PendingBroadcast dispatches when destroyed
            $this->fail('a refused broadcast passed silently');
        } catch (RelayException $e) {
            $this->assertSame('bad_publish_key', $e->getErrorCode());
        }
    }

    public function test_a_notification_via_the_channel_class_reaches_the_notifiable_with_its_event_name(): void
    {
        $ann = new Subscriber($this->stack, 'lara-3');
        (new AppUser('lara-3'))->notify(new ImageReadyNotification('/n.jpg', viaName: false));

        $events = $ann->next();
        $this->assertSame('image_ready', $events[0]['event']);
        $this->assertSame('/n.jpg', $events[0]['data']['img_url']);
    }

    public function test_a_notification_via_the_channel_name_with_email_fallback_is_published_with_fallback(): void
    {
        $ann = new Subscriber($this->stack, 'lara-4');
        $notification = new ImageReadyNotification('/f.jpg', viaName: true, fallback: true);
        (new AppUser('lara-4'))->notify($notification);

        $this->assertSame('/f.jpg', $ann->next()[0]['data']['img_url']);
        $sent = app(NotifyRelayChannel::class)->send(new AppUser('lara-4'), $notification);
        $this->assertSame(1, $sent['recipients']);
        $this->assertSame(['event' => 'image_ready', 'fallback' => 'email', 'img_url' => '/f.jpg'],
            $notification->toNotifyRelay(null)->toArray());
    }

    public function test_an_on_demand_notification_can_name_a_topic(): void
    {
        app(Client::class)->replaceSubscribers('album:3', ['lara-5']);
        $ann = new Subscriber($this->stack, 'lara-5');
        (new AnonymousNotifiable())->route('notify-relay', ['topic' => 'album:3'])
            ->notify(new ImageReadyNotification('/album.jpg', viaName: true));

        $this->assertSame('/album.jpg', $ann->next()[0]['data']['img_url']);
    }

    public function test_the_token_route_gives_the_logged_in_user_a_token_the_relay_accepts(): void
    {
        \Route::get('/notify-relay/token', TokenController::class)->middleware('auth');
        $request = Request::create('/notify-relay/token');
        $request->setUserResolver(fn () => new AppUser('lara-6'));
        $response = LaravelApp::handle($request);

        $this->assertSame(200, $response->getStatusCode());
        $this->assertSame('no-store, private', $response->headers->get('Cache-Control'));
        $page = new Subscriber($this->stack, 'lara-6', token: $response->getContent());
        app(Client::class)->publish(['user_id' => 'lara-6', 'for' => 'lara-6']);
        $this->assertSame(['lara-6'], array_map(fn ($e) => $e['data']['for'], $page->next()));

        $anonymous = Request::create('/notify-relay/token');
        $anonymous->setUserResolver(fn () => null);
        $this->assertSame(401, app(TokenController::class)($anonymous)->getStatusCode(), 'the controller checks by itself too');
        $this->assertSame(401, LaravelApp::handle($anonymous)->getStatusCode());
    }

    public function test_channel_auth_grants_a_user_channel_to_its_own_user_only(): void
    {
        $broadcaster = new NotifyRelayBroadcaster(app(Client::class));
        $request = Request::create('/broadcasting/auth', 'POST', ['channel_name' => 'private-App.Models.User.lara-7']);
        $request->setUserResolver(fn () => new AppUser('lara-7'));
        $this->assertSame('{"granted":true}', $broadcaster->auth($request));

        $request->setUserResolver(fn () => new AppUser('someone-else'));
        $this->expectException(\Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException::class);
        $broadcaster->auth($request);
    }
}

/** A user as the app's model would be: Notifiable, with a key. */
final class AppUser
{
    use Notifiable;

    public function __construct(private readonly string $id)
    {
    }

    public function getKey(): string
    {
        return $this->id;
    }

    public function getAuthIdentifier(): string
    {
        return $this->id;
    }
}

final class ImageReadyNow implements ShouldBroadcastNow
{
    /** @param list<Channel> $extra */
    public function __construct(private readonly string $userId, public string $imgUrl, private readonly array $extra = [])
    {
    }

    public function broadcastOn(): array
    {
        return [new PrivateChannel("App.Models.User.{$this->userId}"), ...$this->extra];
    }

    public function broadcastAs(): string
    {
        return 'image_ready';
    }
}

final class ImageReadyQueued implements ShouldBroadcast
{
    public function __construct(public string $userId, public string $imgUrl)
    {
    }

    public function broadcastOn(): PrivateChannel
    {
        return new PrivateChannel("App.Models.User.{$this->userId}");
    }
}

final class ImageReadyNotification extends Notification
{
    public function __construct(private readonly string $url, private readonly bool $viaName, private readonly bool $fallback = false)
    {
    }

    public function via($notifiable): array
    {
        return [$this->viaName ? 'notify-relay' : NotifyRelayChannel::class];
    }

    public function toNotifyRelay($notifiable): NotifyRelayMessage
    {
        return NotifyRelayMessage::create(['img_url' => $this->url])->event('image_ready')->withEmailFallback($this->fallback);
    }
}
