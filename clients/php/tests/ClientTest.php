<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\Client;
use NotifyRelay\RelayException;
use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;

/** The HTTP client against the real relay and Redis. */
final class ClientTest extends TestCase
{
    private static function client(array $options = []): Client
    {
        return new Client(Stack::shared()->url(), Stack::PUBLISH_KEY, $options);
    }

    private static function user(): string
    {
        return 'u' . bin2hex(random_bytes(4));
    }

    public function test_a_publish_to_a_user_arrives_on_their_poll_with_its_event_name_and_data(): void
    {
        $ann = new Subscriber(Stack::shared(), self::user());
        $answer = self::client()->publish(['user_id' => $ann->user, 'event' => 'image_ready', 'img_url' => '/x.jpg']);

        $this->assertSame(1, $answer['recipients']);
        $events = $ann->next();
        $this->assertCount(1, $events);
        $this->assertSame($answer['id'], $events[0]['id']);
        $this->assertSame('image_ready', $events[0]['event']);
        $this->assertSame('/x.jpg', $events[0]['data']['img_url']);
    }

    public function test_publish_to_users_reaches_each_named_user_once(): void
    {
        $ann = new Subscriber(Stack::shared(), self::user());
        $bob = new Subscriber(Stack::shared(), self::user());
        $answer = self::client()->publishToUsers([$ann->user, $bob->user, $ann->user], ['n' => 1]);

        $this->assertSame(2, $answer['recipients']);
        $this->assertSame([1], array_map(fn ($e) => $e['data']['n'], $ann->next()));
        $this->assertSame([1], array_map(fn ($e) => $e['data']['n'], $bob->next()));
    }

    public function test_a_topic_publish_reaches_its_subscribers_except_the_excluded_editor(): void
    {
        $client = self::client();
        $topic = 'image:' . self::user();
        $editor = new Subscriber(Stack::shared(), self::user());
        $follower = new Subscriber(Stack::shared(), self::user());
        $this->assertTrue($client->subscribe($topic, $editor->user)['added']);
        $this->assertTrue($client->subscribe($topic, $follower->user)['added']);
        $this->assertFalse($client->subscribe($topic, $follower->user)['added'], 'a second subscribe adds nothing');

        $answer = $client->publishToTopic($topic, ['img_url' => '/t.jpg'], ['exclude' => [$editor->user]]);
        $this->assertSame(1, $answer['recipients']);
        $this->assertSame('/t.jpg', $follower->next()[0]['data']['img_url']);
        // The editor's next event is a later marker: the topic event never reached them.
        $client->publish(['user_id' => $editor->user, 'marker' => true]);
        $this->assertSame([true], array_map(fn ($e) => $e['data']['marker'] ?? false, $editor->next()));
    }

    public function test_unsubscribe_stops_topic_events_and_reports_whether_it_removed(): void
    {
        $client = self::client();
        $topic = 'image:' . self::user();
        $client->subscribe($topic, 7);
        $this->assertTrue($client->unsubscribe($topic, 7)['removed']);
        $this->assertFalse($client->unsubscribe($topic, 7)['removed']);
        $this->assertSame(['id' => null, 'recipients' => 0], $client->publishToTopic($topic, ['x' => 1]));
    }

    public function test_replace_subscribers_sets_the_whole_set_and_pages_list_it_all(): void
    {
        $client = self::client();
        $topic = 'album:' . self::user();
        $client->subscribe($topic, 'gone');
        $this->assertSame(5, $client->replaceSubscribers($topic, [1, 2, 3, 'a', 'b'])['count']);

        $first = $client->subscribers($topic, 2);
        $this->assertSame(['1', '2'], $first['subscribers']);
        $this->assertSame('2', $first['next']);
        $this->assertSame(['1', '2', '3', 'a', 'b'], iterator_to_array($client->allSubscribers($topic, 2), false));
    }

    public function test_topics_and_users_with_slash_plus_and_percent_reach_the_relay_unchanged(): void
    {
        $client = self::client();
        $topic = 'album/' . self::user();
        $answer = $client->subscribe($topic, 'x+y%');
        $this->assertSame([$topic, 'x+y%'], [$answer['topic'], $answer['user']]);
        $this->assertSame(['x+y%'], $client->subscribers($topic)['subscribers']);
        $this->assertSame(1, $client->publishToTopic($topic, ['k' => 1])['recipients']);
        $this->assertTrue($client->putContact('x+y%', 'xy@example.com')['contact']['email_fallback']);
        $this->assertSame('xy@example.com', $client->getContact('x+y%')['email']);
        $this->assertTrue($client->unsubscribe($topic, 'x+y%')['removed']);
    }

    public function test_contacts_are_set_read_and_deleted(): void
    {
        $client = self::client();
        $user = self::user();
        $this->assertSame(['email' => 'ann@example.com', 'email_fallback' => false],
            $client->putContact($user, 'ann@example.com', false)['contact']);
        $this->assertSame(['email' => 'ann@example.com', 'email_fallback' => false], $client->getContact($user));
        $this->assertTrue($client->deleteContact($user)['removed']);
        $this->assertNull($client->getContact($user));
        $this->assertSame([], $client->notifications(['user' => $user]));
    }

    public function test_presence_counts_a_user_who_just_polled_as_online(): void
    {
        $client = self::client();
        $this->assertFalse($client->presence(self::user())['online']);
        $ann = new Subscriber(Stack::shared(), self::user());
        // Presence reaches Redis on the relay's next flush, not with the poll itself.
        Stack::shared()->waitFor(fn () => $client->presence($ann->user)['online'], 'the poll to show in presence');
        $this->addToAssertionCount(1);
    }

    public function test_an_invalid_message_is_a_relay_exception_with_the_relays_error_code(): void
    {
        try {
            self::client()->publish(['img_url' => '/no-recipient.jpg']);
            $this->fail('a message without recipient was accepted');
        } catch (RelayException $e) {
            $this->assertSame('bad_event', $e->getErrorCode());
            $this->assertSame(400, $e->getStatus());
            $this->assertNotSame('', $e->getMessage());
        }
        try {
            self::client()->putContact(1, 'not an address');
            $this->fail('an invalid address was accepted');
        } catch (RelayException $e) {
            $this->assertSame('bad_contact', $e->getErrorCode());
        }
    }

    public function test_a_wrong_publish_key_is_bad_publish_key_and_not_retried(): void
    {
        $client = new Client(Stack::shared()->url(), 'wrong', ['retries' => 3]);
        $waits = [];
        $client->setSleeper(function (float $s) use (&$waits) { $waits[] = $s; });
        try {
            $client->publish(['user_id' => 1]);
            $this->fail('a wrong key was accepted');
        } catch (RelayException $e) {
            $this->assertSame('bad_publish_key', $e->getErrorCode());
            $this->assertSame(401, $e->getStatus());
        }
        $this->assertSame([], $waits);
    }

    public function test_a_429_is_retried_after_its_retry_after_and_then_succeeds(): void
    {
        $stack = (new Stack(['--publishes-per-sec', '1']))->start();
        try {
            $ann = new Subscriber($stack, 'ann');
            $client = new Client($stack->url(), Stack::PUBLISH_KEY, ['retries' => 2]);
            $waits = [];
            $client->setSleeper(function (float $s) use (&$waits) { $waits[] = $s; usleep((int) ($s * 1e6)); });
            $client->publish(['user_id' => 'ann', 'n' => 1]);
            $client->publish(['user_id' => 'ann', 'n' => 2]);

            $this->assertSame([1.0], $waits, 'one retry, after the relay\'s Retry-After of 1 s');
            $this->assertSame([1, 2], array_map(fn ($e) => $e['data']['n'], $ann->next()));

            $impatient = new Client($stack->url(), Stack::PUBLISH_KEY, ['retries' => 0]);
            try {
                $impatient->publish(['user_id' => 'ann', 'n' => 3]);
                $this->fail('the rate limit let a third publish through within a second');
            } catch (RelayException $e) {
                $this->assertSame('rate_limited', $e->getErrorCode());
                $this->assertSame(429, $e->getStatus());
                $this->assertSame(1, $e->getRetryAfter());
            }
        } finally {
            $stack->stop();
        }
    }

    public function test_a_503_is_retried_a_bounded_number_of_times_then_thrown_as_broker_unavailable(): void
    {
        $stack = (new Stack())->start();
        try {
            $stack->stopRedis();
            $client = new Client($stack->url(), Stack::PUBLISH_KEY, ['retries' => 2, 'max_retry_wait' => 0.5]);
            $waits = [];
            $client->setSleeper(function (float $s) use (&$waits) { $waits[] = $s; });
            try {
                $client->publish(['user_id' => 'ann']);
                $this->fail('a publish was accepted with Redis down');
            } catch (RelayException $e) {
                $this->assertSame('broker_unavailable', $e->getErrorCode());
                $this->assertSame(503, $e->getStatus());
            }
            $this->assertSame([0.5, 0.5], $waits, 'two retries, Retry-After (1 s) capped by max_retry_wait');
        } finally {
            $stack->stop();
        }
    }

    public function test_a_relay_that_is_not_listening_is_a_network_error_after_the_retries(): void
    {
        $port = Stack::shared()->relayPort; // taken by the shared relay: find a closed one instead
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $closed = (int) substr(strrchr(stream_socket_get_name($s, false), ':'), 1);
        fclose($s);
        $this->assertNotSame($port, $closed);
        $client = new Client("http://127.0.0.1:$closed", Stack::PUBLISH_KEY, ['retries' => 1]);
        $waits = [];
        $client->setSleeper(function (float $s) use (&$waits) { $waits[] = $s; });
        try {
            $client->publish(['user_id' => 1]);
            $this->fail('published to nothing');
        } catch (RelayException $e) {
            $this->assertSame('network_error', $e->getErrorCode());
            $this->assertSame(0, $e->getStatus());
        }
        $this->assertCount(1, $waits);
    }

    public function test_unknown_options_are_refused(): void
    {
        $this->expectException(\InvalidArgumentException::class);
        new Client('http://127.0.0.1:1', 'k', ['timeout_secs' => 3]);
    }
}
