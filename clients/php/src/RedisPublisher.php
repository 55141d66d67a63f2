<?php

declare(strict_types=1);

namespace NotifyRelay;

/**
 * Publishes through Redis pub/sub with phpredis: the `PUBLISH image_update {json}` the relay
 * bridges, for apps that already hold a Redis connection.
 *
 * Pub/sub is at-most-once: a message published while no relay is subscribed (relay down,
 * restarting, or listening on other --channels) reaches nobody. PUBLISH says so by answering 0
 * receivers, and publish() reports it as a RelayException (`no_subscriber`) unless the
 * constructor was told to accept it. Use Client::publish when the app must know the event was
 * stored.
 */
class RedisPublisher
{
    /**
     * @param \Redis $redis      a connected phpredis client
     * @param string $channel    one of the relay's --channels
     * @param bool   $requireReceiver throw when no relay received the message (default); false returns 0
     */
    public function __construct(
        private readonly \Redis $redis,
        private readonly string $channel = 'image_update',
        private readonly bool $requireReceiver = true,
    ) {
    }

    /**
     * Publishes one message (same fields as Client::publish).
     *
     * @param array<string, mixed> $event
     * @return int how many subscribers (relay instances bridging the channel) received it
     */
    public function publish(array $event): int
    {
        $json = json_encode($event, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        try {
            $receivers = $this->redis->publish($this->channel, $json);
        } catch (\RedisException $e) {
            throw new RelayException('redis_unavailable', 'PUBLISH failed: ' . $e->getMessage(), 0, null, $e);
        }
        if ($receivers === false) {
            throw new RelayException('redis_unavailable', 'PUBLISH failed: ' . ($this->redis->getLastError() ?? 'no answer'));
        }
        if ($receivers === 0 && $this->requireReceiver) {
            throw new RelayException('no_subscriber', "no relay is subscribed to \"{$this->channel}\": the message "
                . 'reached nobody (relay down or restarting, or the channel is not in its --channels)');
        }
        return (int) $receivers;
    }
}
