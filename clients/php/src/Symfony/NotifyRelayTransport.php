<?php

declare(strict_types=1);

namespace NotifyRelay\Symfony;

use NotifyRelay\Client;
use Symfony\Component\Notifier\Event\MessageEvent;
use Symfony\Component\Notifier\Exception\UnsupportedMessageTypeException;
use Symfony\Component\Notifier\Message\ChatMessage;
use Symfony\Component\Notifier\Message\MessageInterface;
use Symfony\Component\Notifier\Message\PushMessage;
use Symfony\Component\Notifier\Message\SentMessage;
use Symfony\Component\Notifier\Transport\TransportInterface;
use Symfony\Contracts\EventDispatcher\EventDispatcherInterface;

/**
 * The Notifier transport (`notify-relay://KEY@host:port`): a chat or push message whose options
 * are NotifyRelayOptions is published to the relay. Subscribers receive `subject` (and
 * `content` for a push message) with the options' data; the SentMessage's id is the relay's
 * event id. Failures are RelayExceptions with the relay's error code.
 */
final class NotifyRelayTransport implements TransportInterface
{
    public function __construct(
        private readonly Client $client,
        private readonly string $endpoint,
        private readonly ?EventDispatcherInterface $dispatcher = null,
    ) {
    }

    public function send(MessageInterface $message): ?SentMessage
    {
        if (!$this->supports($message)) {
            throw new UnsupportedMessageTypeException(__CLASS__, ChatMessage::class . ' or ' . PushMessage::class . ' with ' . NotifyRelayOptions::class, $message);
        }
        $this->dispatcher?->dispatch(new MessageEvent($message));
        /** @var NotifyRelayOptions $options */
        $options = $message->getOptions();
        $text = ['subject' => $message->getSubject()];
        if ($message instanceof PushMessage) {
            $text['content'] = $message->getContent();
        }
        $answer = $this->client->publish($options->toArray() + $text);
        $sent = new SentMessage($message, (string) $this);
        if ($answer['id'] !== null) {
            $sent->setMessageId($answer['id']);
        }
        return $sent;
    }

    public function supports(MessageInterface $message): bool
    {
        return ($message instanceof ChatMessage || $message instanceof PushMessage)
            && $message->getOptions() instanceof NotifyRelayOptions;
    }

    public function __toString(): string
    {
        return 'notify-relay://' . $this->endpoint;
    }
}
