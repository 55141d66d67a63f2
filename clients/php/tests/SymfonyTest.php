<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\RelayException;
use NotifyRelay\Symfony\NotifyRelayOptions;
use NotifyRelay\Symfony\NotifyRelayTransportFactory;
use NotifyRelay\Symfony\RelayNotification;
use NotifyRelay\Symfony\UserRecipient;
use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;
use Symfony\Component\Notifier\Channel\ChatChannel;
use Symfony\Component\Notifier\Channel\PushChannel;
use Symfony\Component\Notifier\Chatter;
use Symfony\Component\Notifier\Exception\IncompleteDsnException;
use Symfony\Component\Notifier\Message\ChatMessage;
use Symfony\Component\Notifier\Message\SmsMessage;
use Symfony\Component\Notifier\Notifier;
use Symfony\Component\Notifier\Transport;
use Symfony\Component\Notifier\Transport\Dsn;
use Symfony\Component\Notifier\Transport\TransportInterface;

/** The Notifier transport, on Debian's symfony/notifier 5.4. */
final class SymfonyTest extends TestCase
{
    private static function transports(string $key = Stack::PUBLISH_KEY): TransportInterface
    {
        $stack = Stack::shared();
        return (new Transport([new NotifyRelayTransportFactory()]))
            ->fromStrings(['notify-relay' => "notify-relay://$key@127.0.0.1:{$stack->relayPort}"]);
    }

    private static function notifier(TransportInterface $transports): Notifier
    {
        return new Notifier(['push' => new PushChannel($transports), 'chat' => new ChatChannel($transports)]);
    }

    public function test_a_notification_reaches_the_user_over_the_push_channel_with_subject_content_and_data(): void
    {
        $ann = new Subscriber(Stack::shared(), 'sym-1');
        $notification = (new RelayNotification('Your image is ready', ['img_url' => '/s.jpg']))
            ->content('It was resized.')->eventName('image_ready');
        self::notifier(self::transports())->send($notification, new UserRecipient('sym-1'));

        $events = $ann->next();
        $this->assertCount(1, $events);
        $this->assertSame('image_ready', $events[0]['event']);
        $this->assertSame(['img_url' => '/s.jpg', 'subject' => 'Your image is ready', 'content' => 'It was resized.'],
            array_diff_key($events[0]['data'], ['event' => 1, 'user_id' => 1]));
    }

    public function test_a_notification_can_go_over_the_chat_channel_instead(): void
    {
        $ann = new Subscriber(Stack::shared(), 'sym-2');
        self::notifier(self::transports())->send(new RelayNotification('via chat', [], ['chat/notify-relay']), new UserRecipient('sym-2'));

        $this->assertSame(['via chat'], array_map(fn ($e) => $e['data']['subject'], $ann->next()));
    }

    public function test_a_chat_message_to_a_topic_skips_the_excluded_user_and_returns_the_event_id(): void
    {
        $client = new \NotifyRelay\Client(Stack::shared()->url(), Stack::PUBLISH_KEY);
        $client->replaceSubscribers('sym:topic', ['sym-3', 'sym-4']);
        $reader = new Subscriber(Stack::shared(), 'sym-3');
        $author = new Subscriber(Stack::shared(), 'sym-4');
        $sent = (new Chatter(self::transports()))->send(
            new ChatMessage('new comment', NotifyRelayOptions::topic('sym:topic')->exclude(['sym-4'])->data(['comment' => 5])));

        $events = $reader->next();
        $this->assertSame($events[0]['id'], $sent->getMessageId());
        $this->assertSame(5, $events[0]['data']['comment']);
        $this->assertSame('notify-relay://127.0.0.1:' . Stack::shared()->relayPort, $sent->getTransport());
        // The author's next event is a later marker: the comment never reached them.
        $client->publish(['user_id' => 'sym-4', 'marker' => true]);
        $this->assertSame([true], array_map(fn ($e) => $e['data']['marker'] ?? false, $author->next()));
    }

    public function test_a_refusal_surfaces_as_a_relay_exception_with_the_relays_code(): void
    {
        try {
            self::notifier(self::transports('wrong-key'))->send(new RelayNotification('x'), new UserRecipient('sym-5'));
            $this->fail('a wrong key was accepted');
        } catch (RelayException $e) {
            $this->assertSame('bad_publish_key', $e->getErrorCode());
        }
    }

    public function test_the_dsn_needs_the_publish_key_and_messages_without_relay_options_are_not_supported(): void
    {
        $factory = new NotifyRelayTransportFactory();
        $this->assertTrue($factory->supports(new Dsn('notify-relays://k@relay.example')));
        $this->assertSame('notify-relay://relay.internal:8080', (string) $factory->create(new Dsn('notify-relay://k@relay.internal:8080?timeout=2&retries=1')));
        $transport = $factory->create(new Dsn('notify-relay://k@relay.internal:8080'));
        $this->assertFalse($transport->supports(new ChatMessage('no options')));
        $this->assertFalse($transport->supports(new SmsMessage('+331', 'sms')));

        $this->expectException(IncompleteDsnException::class);
        $factory->create(new Dsn('notify-relay://relay.internal:8080'));
    }
}
