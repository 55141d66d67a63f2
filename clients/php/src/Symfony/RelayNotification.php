<?php

declare(strict_types=1);

namespace NotifyRelay\Symfony;

use Symfony\Component\Notifier\Message\ChatMessage;
use Symfony\Component\Notifier\Message\PushMessage;
use Symfony\Component\Notifier\Notification\ChatNotificationInterface;
use Symfony\Component\Notifier\Notification\Notification;
use Symfony\Component\Notifier\Notification\PushNotificationInterface;
use Symfony\Component\Notifier\Recipient\RecipientInterface;

/**
 * A Notification that reaches a UserRecipient through the relay, on the `push` channel by
 * default (or `chat`): `$notifier->send(new RelayNotification('Your image is ready',
 * ['img_url' => $url]), new UserRecipient($user->getId()))`.
 *
 * Symfony's channels build their message from the notification alone; this class is what puts
 * the recipient's user id into it.
 */
class RelayNotification extends Notification implements PushNotificationInterface, ChatNotificationInterface
{
    private ?string $eventName = null;
    private bool $emailFallback = false;

    /**
     * @param array<string, mixed> $data what the browser receives besides `subject` and `content`
     * @param list<string> $channels
     */
    public function __construct(string $subject, private readonly array $data = [], array $channels = ['push/notify-relay'])
    {
        parent::__construct($subject, $channels);
    }

    /** Sets the SSE event name. */
    public function eventName(string $name): static
    {
        $this->eventName = $name;
        return $this;
    }

    /** Emails the event if the user does not see it live. */
    public function withEmailFallback(bool $on = true): static
    {
        $this->emailFallback = $on;
        return $this;
    }

    public function asPushMessage(RecipientInterface $recipient, ?string $transport = null): ?PushMessage
    {
        return new PushMessage($this->getSubject(), $this->getContent(), $this->optionsFor($recipient));
    }

    public function asChatMessage(RecipientInterface $recipient, ?string $transport = null): ?ChatMessage
    {
        return new ChatMessage($this->getSubject(), $this->optionsFor($recipient));
    }

    private function optionsFor(RecipientInterface $recipient): NotifyRelayOptions
    {
        if (!$recipient instanceof UserRecipient) {
            throw new \InvalidArgumentException('a RelayNotification needs a ' . UserRecipient::class . ' recipient, got ' . get_class($recipient));
        }
        $options = NotifyRelayOptions::user($recipient->getUserId())->data($this->data);
        if ($this->eventName !== null) {
            $options->event($this->eventName);
        }
        return $this->emailFallback ? $options->emailFallback() : $options;
    }
}
