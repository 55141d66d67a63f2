<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\RedisPublisher;
use NotifyRelay\RelayException;
use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;

/** Publishing through Redis pub/sub with phpredis, as the PHP app has always done. */
final class RedisPublisherTest extends TestCase
{
    public function test_a_pubsub_publish_reaches_the_user_and_counts_the_relay_as_receiver(): void
    {
        $stack = Stack::shared();
        $ann = new Subscriber($stack, 'redis-ann');
        $receivers = (new RedisPublisher($stack->redis()))->publish(['user_id' => 'redis-ann', 'img_url' => '/r.jpg']);

        $this->assertGreaterThanOrEqual(1, $receivers);
        $this->assertSame(['/r.jpg'], array_map(fn ($e) => $e['data']['img_url'], $ann->next()));
    }

    public function test_zero_receivers_is_reported_as_a_message_that_reached_nobody(): void
    {
        $publisher = new RedisPublisher(Stack::shared()->redis(), 'a_channel_no_relay_bridges');
        try {
            $publisher->publish(['user_id' => 1]);
            $this->fail('a message that reached nobody passed as published');
        } catch (RelayException $e) {
            $this->assertSame('no_subscriber', $e->getErrorCode());
            $this->assertStringContainsString('reached nobody', $e->getMessage());
        }
        $lenient = new RedisPublisher(Stack::shared()->redis(), 'a_channel_no_relay_bridges', requireReceiver: false);
        $this->assertSame(0, $lenient->publish(['user_id' => 1]));
    }

    public function test_a_redis_that_went_away_is_a_relay_exception_not_a_silent_false(): void
    {
        $stack = (new Stack())->start();
        $redis = $stack->redis();
        $stack->stop();
        $this->expectException(RelayException::class);
        (new RedisPublisher($redis))->publish(['user_id' => 1]);
    }
}
